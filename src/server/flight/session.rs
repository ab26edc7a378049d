//! Flight SQL sessions and authentication. gRPC has no connection state a server can rely
//! on, so the handshake (HTTP basic authentication with the server's user and password)
//! opens a session and answers with a bearer token; every later call presents the token and
//! runs in that session's own [`Engine::new_session`] (its own settings and prepared
//! statements, the shared tables). Without configured credentials the handshake admits
//! anyone, and calls without a token share one anonymous session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use ring::rand::{SecureRandom, SystemRandom};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::Engine;
use crate::server::Credentials;

/// Sessions idle longer than this are closed (their token stops working) when the server
/// sets no idle timeout.
const DEFAULT_IDLE_LIMIT: Duration = Duration::from_secs(3600);
/// Most prepared statements one session may hold open.
const MAX_PREPARED: usize = 1024;
/// Most statements one session keeps planned for a `DoGet` that has not come yet; past it
/// the oldest is forgotten (its ticket then asks the client to call `GetFlightInfo` again).
const MAX_PLANNED: usize = 64;

/// One client's session.
pub(crate) struct Session {
    /// The engine session its statements run in.
    pub(crate) engine: Engine,
    prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    /// Statements planned by `GetFlightInfo`, by ticket, oldest first: `DoGet` runs the plan
    /// it was given instead of planning the SQL a second time.
    planned: Mutex<VecDeque<(Vec<u8>, LogicalPlan)>>,
}

/// A prepared statement: its plan with `$n` placeholders and the values last bound.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) plan: LogicalPlan,
    pub(crate) params: Option<ParamValues>,
}

impl Session {
    fn new(engine: &Engine) -> Arc<Session> {
        Arc::new(Session {
            engine: engine.new_session(),
            prepared: Mutex::new(HashMap::new()),
            planned: Mutex::new(VecDeque::new()),
        })
    }

    fn statements(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Prepared>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `plan` as a prepared statement and returns its handle.
    pub(crate) fn prepare(&self, plan: LogicalPlan) -> Result<Vec<u8>, Status> {
        let handle = random_token()?.into_bytes();
        let mut statements = self.statements();
        if statements.len() >= MAX_PREPARED {
            return Err(Status::resource_exhausted(format!(
                "too many prepared statements in this session (at most {MAX_PREPARED}); close some"
            )));
        }
        statements.insert(handle.clone(), Prepared { plan, params: None });
        Ok(handle)
    }

    /// The prepared statement with `handle`.
    pub(crate) fn prepared(&self, handle: &[u8]) -> Result<Prepared, Status> {
        self.statements()
            .get(handle)
            .cloned()
            .ok_or_else(unknown_statement)
    }

    /// Binds parameter values to the prepared statement with `handle`.
    pub(crate) fn bind(&self, handle: &[u8], params: ParamValues) -> Result<(), Status> {
        let mut statements = self.statements();
        let prepared = statements.get_mut(handle).ok_or_else(unknown_statement)?;
        prepared.params = Some(params);
        Ok(())
    }

    /// Forgets the prepared statement with `handle`.
    pub(crate) fn close(&self, handle: &[u8]) -> Result<(), Status> {
        self.statements()
            .remove(handle)
            .map(|_| ())
            .ok_or_else(unknown_statement)
    }

    /// Keeps the plan of a statement until its `DoGet`; returns the ticket.
    pub(crate) fn plan_ticket(&self, plan: LogicalPlan) -> Result<Vec<u8>, Status> {
        let ticket = random_token()?.into_bytes();
        let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
        if planned.len() >= MAX_PLANNED {
            planned.pop_front();
        }
        planned.push_back((ticket.clone(), plan));
        Ok(ticket)
    }

    /// The plan behind a statement ticket; a ticket is good for one `DoGet`.
    pub(crate) fn take_planned(&self, ticket: &[u8]) -> Result<LogicalPlan, Status> {
        let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
        let at = planned.iter().position(|(t, _)| t.as_slice() == ticket);
        at.and_then(|at| planned.remove(at))
            .map(|(_, plan)| plan)
            .ok_or_else(|| {
                Status::not_found(
                    "unknown statement ticket: a ticket from GetFlightInfo is good for one \
                     DoGet in the session that asked for it; call GetFlightInfo again",
                )
            })
    }
}

fn unknown_statement() -> Status {
    Status::not_found("unknown prepared statement handle (closed, or from another session)")
}

/// All sessions of the Flight SQL server.
pub(crate) struct Sessions {
    engine: Engine,
    users: Vec<Credentials>,
    max_sessions: usize,
    idle_limit: Duration,
    anonymous: Arc<Session>,
    open: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    session: Arc<Session>,
    last_used: Instant,
}

impl Sessions {
    pub(crate) fn new(
        engine: Engine,
        users: Vec<Credentials>,
        max_sessions: usize,
        idle_limit: Option<Duration>,
    ) -> Sessions {
        Sessions {
            anonymous: Session::new(&engine),
            engine,
            users,
            max_sessions,
            idle_limit: idle_limit.unwrap_or(DEFAULT_IDLE_LIMIT),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handshake: checks the basic-authentication header against the server's
    /// credentials and opens a session; returns its bearer token.
    pub(crate) fn login(&self, metadata: &MetadataMap) -> Result<String, Status> {
        if !self.users.is_empty() {
            let (user, password) = basic_auth(metadata)?;
            // Every user is compared, so the time taken does not tell which names exist.
            let known = self.users.iter().fold(false, |found, known| {
                let user_ok = constant_time_eq(user.as_bytes(), known.user.as_bytes());
                let password_ok = constant_time_eq(password.as_bytes(), known.password.as_bytes());
                found | (user_ok & password_ok)
            });
            if !known {
                return Err(Status::unauthenticated(format!(
                    "password authentication failed for user \"{user}\""
                )));
            }
        }
        let token = random_token()?;
        let mut open = self.open();
        let now = Instant::now();
        open.retain(|_, entry| now.duration_since(entry.last_used) < self.idle_limit);
        if open.len() >= self.max_sessions {
            return Err(Status::resource_exhausted(format!(
                "sorry, too many clients already (the server allows {})",
                self.max_sessions
            )));
        }
        let entry = Entry {
            session: Session::new(&self.engine),
            last_used: now,
        };
        open.insert(token.clone(), entry);
        Ok(token)
    }

    /// The session of a call, from its bearer token.
    pub(crate) fn session(&self, metadata: &MetadataMap) -> Result<Arc<Session>, Status> {
        let Some(header) = metadata.get("authorization") else {
            return match self.users.is_empty() {
                false => Err(Status::unauthenticated(
                    "authentication required: do the handshake with a user name and password first",
                )),
                true => Ok(Arc::clone(&self.anonymous)),
            };
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("expected a bearer token"))?;
        let mut open = self.open();
        let now = Instant::now();
        match open.get_mut(token.trim()) {
            Some(entry) if now.duration_since(entry.last_used) < self.idle_limit => {
                entry.last_used = now;
                Ok(Arc::clone(&entry.session))
            }
            _ => Err(Status::unauthenticated(
                "unknown or expired session token: do the handshake again",
            )),
        }
    }
}

/// The user name and password of an `authorization: Basic ...` header.
fn basic_auth(metadata: &MetadataMap) -> Result<(String, String), Status> {
    let missing = || {
        Status::unauthenticated(
            "authentication required: send a user name and password (basic authentication) in the handshake",
        )
    };
    let header = metadata.get("authorization").ok_or_else(missing)?;
    let encoded = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Basic "))
        .ok_or_else(missing)?;
    let decoded = BASE64
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Status::unauthenticated("malformed basic authentication header"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| Status::unauthenticated("malformed basic authentication header"))?;
    Ok((user.to_string(), password.to_string()))
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the system's secure generator, as hex.
fn random_token() -> Result<String, Status> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Status::internal("the system random number generator failed"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", value.parse().unwrap());
        metadata
    }

    #[test]
    fn basic_auth_headers() {
        let header = format!("Basic {}", BASE64.encode("ann:pa:ss"));
        let (user, password) = basic_auth(&with_header(&header)).unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("ann", "pa:ss"));
        assert!(basic_auth(&with_header("Basic !!!")).is_err());
        assert!(basic_auth(&with_header("Bearer x")).is_err());
        assert!(basic_auth(&MetadataMap::new()).is_err());
    }

    #[test]
    fn secrets_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}
