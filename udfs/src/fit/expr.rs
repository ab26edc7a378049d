//! User models for `curve_fit`: an arithmetic expression in `x` and named parameters
//! (`'a * x^b + c'`, `'l / (1 + exp(-k * (x - x0)))'`), parsed once per query and evaluated
//! with forward-mode dual numbers, so the Jacobian is exact.
//!
//! Grammar: `+ - * / ^` (`**` too), unary minus, parentheses, numbers, `x`, parameters
//! (any other identifier, in order of first appearance), and the functions `exp`, `ln`/`log`,
//! `log10`, `sqrt`, `abs`, `sin`, `cos`, `tan`, `tanh`. `e` and `pi` are constants.

use std::fmt;

use datafusion::common::{Result, plan_err};

/// The most parameters a user model may have.
pub const MAX_PARAMS: usize = 8;

#[derive(Debug, Clone, Copy)]
enum Func {
    Exp,
    Ln,
    Log10,
    Sqrt,
    Abs,
    Sin,
    Cos,
    Tan,
    Tanh,
}

#[derive(Debug, Clone)]
enum Node {
    Num(f64),
    X,
    Param(usize),
    Neg(Box<Node>),
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Mul(Box<Node>, Box<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    Call(Func, Box<Node>),
}

/// A parsed user model.
#[derive(Clone)]
pub struct ExprModel {
    source: String,
    params: Vec<String>,
    root: Node,
}

impl fmt::Debug for ExprModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExprModel({:?})", self.source)
    }
}

impl PartialEq for ExprModel {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for ExprModel {}

impl std::hash::Hash for ExprModel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state)
    }
}

/// A value with its derivatives with respect to the parameters.
#[derive(Debug, Clone, Copy)]
struct Dual {
    v: f64,
    d: [f64; MAX_PARAMS],
}

impl Dual {
    fn constant(v: f64) -> Self {
        Dual {
            v,
            d: [0.0; MAX_PARAMS],
        }
    }

    /// `f(self)` with `f'(self.v) = slope`.
    fn chain(self, v: f64, slope: f64) -> Self {
        let mut d = self.d;
        d.iter_mut().for_each(|x| *x *= slope);
        Dual { v, d }
    }

    fn combine(a: Self, b: Self, v: f64, da: f64, db: f64) -> Self {
        let mut d = [0.0; MAX_PARAMS];
        for ((d, a), b) in d.iter_mut().zip(&a.d).zip(&b.d) {
            *d = da * a + db * b;
        }
        Dual { v, d }
    }
}

impl ExprModel {
    /// Parses `source`; errors name the position and what was expected.
    pub fn parse(source: &str) -> Result<Self> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            params: Vec::new(),
            source,
        };
        let root = parser.sum()?;
        if parser.pos < parser.tokens.len() {
            return plan_err!(
                "curve_fit: unexpected '{}' in model '{source}'",
                parser.tokens[parser.pos]
            );
        }
        if !contains_x(&root) {
            return plan_err!("curve_fit: model '{source}' does not use x");
        }
        if parser.params.is_empty() {
            return plan_err!("curve_fit: model '{source}' has no parameters");
        }
        if parser.params.len() > MAX_PARAMS {
            return plan_err!("curve_fit: model '{source}' has more than {MAX_PARAMS} parameters");
        }
        Ok(Self {
            source: source.to_string(),
            params: parser.params,
            root,
        })
    }

    /// Parameter names in order of first appearance.
    pub fn param_names(&self) -> &[String] {
        &self.params
    }

    /// `f(x; p)` and, when asked, `df/dp`.
    pub fn eval(&self, x: f64, p: &[f64], jac: Option<&mut [f64]>) -> f64 {
        let r = eval(&self.root, x, p);
        if let Some(j) = jac {
            let n = j.len();
            j.copy_from_slice(&r.d[..n]);
        }
        r.v
    }
}

fn contains_x(node: &Node) -> bool {
    match node {
        Node::X => true,
        Node::Num(_) | Node::Param(_) => false,
        Node::Neg(a) | Node::Call(_, a) => contains_x(a),
        Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) => {
            contains_x(a) || contains_x(b)
        }
    }
}

fn eval(node: &Node, x: f64, p: &[f64]) -> Dual {
    match node {
        Node::Num(v) => Dual::constant(*v),
        Node::X => Dual::constant(x),
        Node::Param(i) => {
            let mut d = Dual::constant(p.get(*i).copied().unwrap_or(f64::NAN));
            d.d[*i] = 1.0;
            d
        }
        Node::Neg(a) => {
            let a = eval(a, x, p);
            a.chain(-a.v, -1.0)
        }
        Node::Add(a, b) => {
            let (a, b) = (eval(a, x, p), eval(b, x, p));
            Dual::combine(a, b, a.v + b.v, 1.0, 1.0)
        }
        Node::Sub(a, b) => {
            let (a, b) = (eval(a, x, p), eval(b, x, p));
            Dual::combine(a, b, a.v - b.v, 1.0, -1.0)
        }
        Node::Mul(a, b) => {
            let (a, b) = (eval(a, x, p), eval(b, x, p));
            Dual::combine(a, b, a.v * b.v, b.v, a.v)
        }
        Node::Div(a, b) => {
            let (a, b) = (eval(a, x, p), eval(b, x, p));
            Dual::combine(a, b, a.v / b.v, 1.0 / b.v, -a.v / (b.v * b.v))
        }
        Node::Pow(a, b) => {
            let (a, b) = (eval(a, x, p), eval(b, x, p));
            let v = a.v.powf(b.v);
            let da = if a.v == 0.0 {
                0.0
            } else {
                b.v * a.v.powf(b.v - 1.0)
            };
            let db = if b.d.iter().all(|d| *d == 0.0) {
                0.0
            } else {
                v * a.v.ln()
            };
            Dual::combine(a, b, v, da, db)
        }
        Node::Call(f, a) => {
            let a = eval(a, x, p);
            let (v, slope) = match f {
                Func::Exp => (a.v.exp(), a.v.exp()),
                Func::Ln => (a.v.ln(), 1.0 / a.v),
                Func::Log10 => (a.v.log10(), 1.0 / (a.v * std::f64::consts::LN_10)),
                Func::Sqrt => (a.v.sqrt(), 0.5 / a.v.sqrt()),
                Func::Abs => (a.v.abs(), a.v.signum()),
                Func::Sin => (a.v.sin(), a.v.cos()),
                Func::Cos => (a.v.cos(), -a.v.sin()),
                Func::Tan => (a.v.tan(), 1.0 / (a.v.cos() * a.v.cos())),
                Func::Tanh => (a.v.tanh(), 1.0 - a.v.tanh() * a.v.tanh()),
            };
            a.chain(v, slope)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Ident(String),
    Op(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Num(v) => write!(f, "{v}"),
            Token::Ident(s) => write!(f, "{s}"),
            Token::Op(c) => write!(f, "{c}"),
        }
    }
}

fn tokenize(source: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || ((chars[i] == 'e' || chars[i] == 'E')
                        && i + 1 < chars.len()
                        && (chars[i + 1].is_ascii_digit() || "+-".contains(chars[i + 1])))
                    || ("+-".contains(chars[i]) && i > start && "eE".contains(chars[i - 1])))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(v) => out.push(Token::Num(v)),
                Err(_) => return plan_err!("curve_fit: bad number '{text}' in model '{source}'"),
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(
                chars[start..i].iter().collect::<String>().to_lowercase(),
            ));
        } else if c == '*' && chars.get(i + 1) == Some(&'*') {
            out.push(Token::Op('^'));
            i += 2;
        } else if "+-*/^()".contains(c) {
            out.push(Token::Op(c));
            i += 1;
        } else {
            return plan_err!("curve_fit: unexpected character '{c}' in model '{source}'");
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    params: Vec<String>,
    source: &'a str,
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<char> {
        match self.tokens.get(self.pos) {
            Some(Token::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<Node> {
        let mut left = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.pos += 1;
            let right = self.product()?;
            left = if op == '+' {
                Node::Add(Box::new(left), Box::new(right))
            } else {
                Node::Sub(Box::new(left), Box::new(right))
            };
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Node> {
        let mut left = self.unary()?;
        while let Some(op @ ('*' | '/')) = self.peek_op() {
            self.pos += 1;
            let right = self.unary()?;
            left = if op == '*' {
                Node::Mul(Box::new(left), Box::new(right))
            } else {
                Node::Div(Box::new(left), Box::new(right))
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node> {
        match self.peek_op() {
            Some('-') => {
                self.pos += 1;
                Ok(Node::Neg(Box::new(self.unary()?)))
            }
            Some('+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Node> {
        let base = self.atom()?;
        if self.peek_op() == Some('^') {
            self.pos += 1;
            let exponent = self.unary()?; // right-associative, binds tighter than unary minus
            return Ok(Node::Pow(Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Node> {
        let source = self.source;
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return plan_err!("curve_fit: model '{source}' ends too early");
        };
        self.pos += 1;
        match token {
            Token::Num(v) => Ok(Node::Num(v)),
            Token::Op('(') => {
                let inner = self.sum()?;
                if self.peek_op() != Some(')') {
                    return plan_err!("curve_fit: missing ')' in model '{source}'");
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::Ident(name) => {
                let func = match name.as_str() {
                    "exp" => Some(Func::Exp),
                    "ln" | "log" => Some(Func::Ln),
                    "log10" => Some(Func::Log10),
                    "sqrt" => Some(Func::Sqrt),
                    "abs" => Some(Func::Abs),
                    "sin" => Some(Func::Sin),
                    "cos" => Some(Func::Cos),
                    "tan" => Some(Func::Tan),
                    "tanh" => Some(Func::Tanh),
                    _ => None,
                };
                if let Some(func) = func {
                    if self.peek_op() != Some('(') {
                        return plan_err!("curve_fit: {name} needs '(' in model '{source}'");
                    }
                    let arg = self.atom()?;
                    return Ok(Node::Call(func, Box::new(arg)));
                }
                Ok(match name.as_str() {
                    "x" => Node::X,
                    "e" => Node::Num(std::f64::consts::E),
                    "pi" => Node::Num(std::f64::consts::PI),
                    _ => {
                        let i = match self.params.iter().position(|p| *p == name) {
                            Some(i) => i,
                            None => {
                                self.params.push(name);
                                self.params.len() - 1
                            }
                        };
                        Node::Param(i)
                    }
                })
            }
            Token::Op(c) => plan_err!("curve_fit: unexpected '{c}' in model '{source}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_differentiates() {
        let m = ExprModel::parse("a * x^b + c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.param_names(), ["a", "b", "c"]);
        let mut j = [0.0; 3];
        let v = m.eval(2.0, &[3.0, -1.0, 0.5], Some(&mut j));
        assert!((v - 2.0).abs() < 1e-15);
        assert!((j[0] - 0.5).abs() < 1e-15);
        assert!((j[1] - 1.5 * 2f64.ln()).abs() < 1e-15);
        assert!((j[2] - 1.0).abs() < 1e-15);
        let m = ExprModel::parse("l / (1 + exp(-k * (x - x0)))").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.param_names(), ["l", "k", "x0"]);
        assert!((-2f64).powf(2.0) == 4.0);
        let m = ExprModel::parse("-a^2 * x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.eval(1.0, &[3.0], None), -9.0);
        for bad in ["a*", "a * (x", "2 * x", "a + b", "a $ x", "exp x"] {
            assert!(ExprModel::parse(bad).is_err(), "{bad}");
        }
    }
}
