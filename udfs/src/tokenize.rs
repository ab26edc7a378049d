//! `tokenize(text [, lower] [, delimiters])`: the words of a text as a list, with the
//! semantics of the course's `wordcount.py` — the 26 delimiter characters (or the given
//! ones) become spaces, the text is split on the 29 code points Python's `str.split()`
//! treats as whitespace, and words are lower-cased. A byte order mark is not whitespace, so
//! it stays in the first word, as in Python.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, DocumentationBuilder, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::doc_section;

/// The delimiters of word-count-hpda's `wordcount.py`, verbatim.
pub const DELIMITERS: &str = ".,;:?$@^<>#%`!*-=()[]{}/\"'";

/// Whether `c` is one of the 29 code points for which Python's `str.isspace()` is true.
pub fn is_python_whitespace(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}'
        | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}'
        | '\u{205f}' | '\u{3000}')
}

/// The characters that end a word: Python's whitespace and a set of delimiters.
#[derive(Debug, Clone)]
pub struct Separators {
    /// ASCII bytes that end a word.
    ascii: [bool; 128],
    /// Non-ASCII delimiters (non-ASCII whitespace is always a separator).
    other: Vec<char>,
}

impl Separators {
    /// Whitespace and the characters of `delimiters`.
    pub fn new(delimiters: &str) -> Self {
        let mut ascii = [false; 128];
        for (i, slot) in ascii.iter_mut().enumerate() {
            let c = i as u8 as char;
            *slot = is_python_whitespace(c) || delimiters.contains(c);
        }
        let other = delimiters.chars().filter(|c| !c.is_ascii()).collect();
        Self { ascii, other }
    }

    fn is_separator(&self, c: char) -> bool {
        is_python_whitespace(c) || self.other.contains(&c)
    }
}

/// Whitespace and the course's [`DELIMITERS`].
static DEFAULT_SEPARATORS: LazyLock<Separators> = LazyLock::new(|| Separators::new(DELIMITERS));

/// Appends the words of `text` to `out` (bytes) and each word's end offset to `ends`.
pub fn tokenize_into(
    text: &str,
    lower: bool,
    separators: &Separators,
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) {
    let bytes = text.as_bytes();
    let table = &separators.ascii;
    // Whether the character at byte i separates words, and its width in bytes.
    let at = |i: usize| -> (bool, usize) {
        let b = bytes[i];
        if b < 0x80 {
            (table[b as usize], 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (separators.is_separator(c), c.len_utf8())
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let (separator, width) = at(i);
        if separator {
            i += width;
            continue;
        }
        // A word: ASCII bytes in a tight loop, other characters decoded.
        let start = i;
        let mut ascii = true;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if table[b as usize] {
                    break;
                }
                i += 1;
            } else {
                let (separator, width) = at(i);
                if separator {
                    break;
                }
                ascii = false;
                i += width;
            }
        }
        let word = &text[start..i];
        let from = out.len();
        if lower && !ascii {
            out.extend_from_slice(word.to_lowercase().as_bytes());
        } else {
            out.extend_from_slice(word.as_bytes());
            if lower {
                out[from..].make_ascii_lowercase();
            }
        }
        ends.push(out.len());
    }
}

/// The words of `text` with the course's delimiters (for tests and Rust callers).
pub fn tokenize(text: &str, lower: bool) -> Vec<String> {
    tokenize_with(text, lower, &DEFAULT_SEPARATORS)
}

/// The words of `text`, split at `separators`.
pub fn tokenize_with(text: &str, lower: bool, separators: &Separators) -> Vec<String> {
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    tokenize_into(text, lower, separators, &mut out, &mut ends);
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let w = String::from_utf8_lossy(&out[start..end]).into_owned();
            start = end;
            w
        })
        .collect()
}

/// `tokenize(text [, lower] [, delimiters])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TokenizeFunc {
    signature: Signature,
}

impl Default for TokenizeFunc {
    fn default() -> Self {
        let signature = Signature::user_defined(Volatility::Immutable);
        let signature = signature
            .clone()
            .with_parameter_names(vec!["text", "lower", "delimiters"])
            .unwrap_or(signature);
        Self { signature }
    }
}

impl ScalarUDFImpl for TokenizeFunc {
    fn name(&self) -> &str {
        "tokenize"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] | [t, DataType::Boolean | DataType::Null] if is_text(t) => {
                let mut out = vec![DataType::Utf8];
                if arg_types.len() == 2 {
                    out.push(DataType::Boolean);
                }
                Ok(out)
            }
            [t, DataType::Boolean | DataType::Null, d] if is_text(t) && is_text(d) => {
                Ok(vec![DataType::Utf8, DataType::Boolean, DataType::Utf8])
            }
            _ => plan_err!(
                "tokenize takes a string, an optional boolean `lower` and an optional string \
                 `delimiters`, got ({})",
                crate::type_list(arg_types)
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let lower = match args.args.get(1) {
            None => true,
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(b)))) => *b,
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(None) | ScalarValue::Null)) => true,
            Some(_) => return exec_err!("tokenize: lower must be a constant true or false"),
        };
        let custom = match args.args.get(2) {
            None => None,
            Some(ColumnarValue::Scalar(s)) if s.is_null() => None,
            Some(ColumnarValue::Scalar(s)) => match s.try_as_str() {
                Some(Some(d)) => Some(Separators::new(d)),
                _ => return exec_err!("tokenize: delimiters must be a constant string, got {s}"),
            },
            Some(_) => return exec_err!("tokenize: delimiters must be a constant string"),
        };
        let separators = custom.as_ref().unwrap_or(&DEFAULT_SEPARATORS);
        let is_scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let texts = args.args[0].to_array(args.number_rows)?;
        let out = tokenize_array(texts.as_string::<i32>(), lower, separators)?;
        if is_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            DocumentationBuilder::new_with_details(
                doc_section(),
                "Splits a text into words: the characters . , ; : ? $ @ ^ < > # % ` ! * - = ( ) \
                 [ ] { } / \" ' become spaces, the text is split on Unicode whitespace (the 29 \
                 code points of Python's str.split()), and words are lower-cased (Python's \
                 str.lower()), as the course's wordcount.py does. Use with unnest to count words.",
                "tokenize(text [, lower] [, delimiters])",
            )
            .with_sql_example(
                "```sql\n> SELECT tokenize('The cat--the HAT!');\n\
                 +----------------------+\n| [the, cat, the, hat] |\n\
                 > SELECT word, count(*) AS n\n  FROM (SELECT unnest(tokenize(content)) AS word \
                 FROM read_text('books/*.txt'))\n  GROUP BY word ORDER BY n DESC LIMIT 10;\n```",
            )
            .with_argument("text", "String expression.")
            .with_argument(
                "lower",
                "Optional boolean, default true; false keeps the words' case. Positional \
                 (tokenize(t, false)) or named (tokenize(t, lower => false)).",
            )
            .with_argument(
                "delimiters",
                "Optional constant string: the characters that become spaces, instead of the \
                 26 above; whitespace always separates words, '' splits on whitespace only. \
                 Named (tokenize(t, delimiters => ',;')) or third.",
            )
            .build()
        });
        Some(&DOC)
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// Tokenizes every string of `texts` into one `List<Utf8>` array.
fn tokenize_array(texts: &StringArray, lower: bool, separators: &Separators) -> Result<ArrayRef> {
    let mut bytes: Vec<u8> = Vec::with_capacity(texts.values().len());
    let mut ends: Vec<usize> = Vec::with_capacity(texts.values().len() / 5);
    let mut list_offsets: Vec<i32> = Vec::with_capacity(texts.len() + 1);
    list_offsets.push(0);
    for i in 0..texts.len() {
        if texts.is_valid(i) {
            tokenize_into(texts.value(i), lower, separators, &mut bytes, &mut ends);
        }
        let Ok(n) = i32::try_from(ends.len()) else {
            return exec_err!("tokenize: more than 2^31 words in one batch");
        };
        list_offsets.push(n);
    }
    let mut value_offsets: Vec<i32> = Vec::with_capacity(ends.len() + 1);
    value_offsets.push(0);
    for end in ends {
        let Ok(end) = i32::try_from(end) else {
            return exec_err!("tokenize: more than 2 GiB of words in one batch");
        };
        value_offsets.push(end);
    }
    let values = StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(value_offsets)),
        Buffer::from_vec(bytes),
        None,
    )?;
    let field = Arc::new(Field::new_list_field(DataType::Utf8, true));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(list_offsets)),
        Arc::new(values),
        texts.nulls().map(|n| NullBuffer::new(n.inner().clone())),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_semantics() {
        assert_eq!(
            tokenize("The cat--the HAT!", true),
            ["the", "cat", "the", "hat"]
        );
        assert_eq!(
            tokenize("\u{feff}Title: It's\u{a0}ÄBC\u{2003}x_y", true),
            ["\u{feff}title", "it", "s", "äbc", "x_y"]
        );
        assert_eq!(
            tokenize("a\x1cb\u{85}c\u{200b}d", true),
            ["a", "b", "c\u{200b}d"]
        );
        assert_eq!(tokenize("Ab CD", false), ["Ab", "CD"]);
        assert!(tokenize(" .,;: ", true).is_empty());
        // Python lower-cases a final capital sigma to ς
        assert_eq!(tokenize("ΟΔΟΣ", true), ["οδος"]);
    }

    #[test]
    fn own_delimiters() {
        let s = Separators::new(",;—");
        assert_eq!(
            tokenize_with("A,b;c—d e-f.g", true, &s),
            ["a", "b", "c", "d", "e-f.g"]
        );
        let whitespace_only = Separators::new("");
        assert_eq!(
            tokenize_with("it's a\u{a0}test.", false, &whitespace_only),
            ["it's", "a", "test."]
        );
    }

    #[test]
    fn counts_of_whitespace_and_delimiters() {
        let spaces = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|c| is_python_whitespace(*c))
            .count();
        assert_eq!(spaces, 29);
        assert_eq!(DELIMITERS.chars().count(), 26);
    }
}
