//! The HTTP endpoints of `tfops run --listen ADDR` (or `http { listen }`): `/` (the live status
//! page), `/metrics` (Prometheus), `/api/status` (the `status --json` document, live),
//! `/api/events` (server-sent events), `/healthz` and `/readyz`.
//!
//! A shell layer like `cli/`: it reads [`crate::metrics`] and [`crate::events`] and asks the
//! supervisor for its live view; it changes nothing (every route is GET, no body is read). It
//! runs on actix-web inside the daemon's actix system, on one worker thread, with bounds on
//! everything a client controls: connections ([`MAX_CONNECTIONS`]), the time to send a request
//! head ([`REQUEST_TIMEOUT`]), event-stream subscribers ([`MAX_SUBSCRIBERS`], each behind by at
//! most [`crate::events::CAPACITY`] events before it skips). A non-loopback address is refused
//! before anything is bound unless a token is set; with a token, every path but `/healthz`
//! needs `Authorization: Bearer <token>`. The token is never logged.
//!
//! Not here: what the metrics and events are (their modules), the status document
//! ([`crate::status::document`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};

use crate::actors::supervisor::{Live, LiveStatus, SupervisorActor};
use crate::config::{Config, Secret};
use crate::events::{self, Stamped};
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// Open connections at once (more wait in the kernel's backlog).
pub const MAX_CONNECTIONS: usize = 64;
/// Clients of `/api/events` at once; more get 503.
pub const MAX_SUBSCRIBERS: usize = 16;
/// A client must send its request head within this time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle keep-alive connections are closed after this.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Pending connections in the kernel's queue.
const BACKLOG: u32 = 64;
/// How long a request waits for the supervisor's live view.
const LIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The event stream's status tick.
const TICK: Duration = Duration::from_secs(1);
/// The cost gauges are re-read from the ledger at most this often.
const COST_EVERY: Duration = Duration::from_secs(10);
/// The environment variable that sets (and overrides) `http.token`.
pub const TOKEN_ENV: &str = "TFOPS_HTTP_TOKEN";

/// The page, served as is: inline CSS and JavaScript, nothing fetched from elsewhere.
const PAGE: &str = include_str!("page.html");

/// Why the endpoints cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{addr} is not a loopback address, and the status endpoints would be open to the \
network: set a token (http {{ token = \"…\" }} or {TOKEN_ENV}) or listen on 127.0.0.1"
    )]
    NeedsToken { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}; choose another port with --listen")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Where and how to serve, once checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub addr: SocketAddr,
    pub token: Option<Secret>,
}

/// Decides whether to serve: `listen` (from `--listen` or the config; `None` is off) and the
/// token (the environment's wins over the config's; empty is none).
///
/// # Errors
/// [`HttpError::NeedsToken`] for a non-loopback address without a token.
pub fn plan(
    listen: Option<SocketAddr>,
    config_token: Option<&Secret>,
    env_token: Option<String>,
) -> Result<Option<Plan>, HttpError> {
    let Some(addr) = listen else {
        return Ok(None);
    };
    let token = env_token
        .filter(|t| !t.is_empty())
        .map(Secret)
        .or_else(|| config_token.filter(|t| !t.0.is_empty()).cloned());
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(HttpError::NeedsToken { addr });
    }
    Ok(Some(Plan { addr, token }))
}

/// True when `header` is `Bearer <token>` (compared in constant time).
pub fn bearer_matches(header: Option<&[u8]>, token: &[u8]) -> bool {
    let Some(h) = header else { return false };
    let Some(given) = h.strip_prefix(b"Bearer ") else {
        return false;
    };
    if given.len() != token.len() {
        return false;
    }
    given
        .iter()
        .zip(token)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[derive(Clone)]
struct Shared {
    supervisor: Addr<SupervisorActor>,
    ws: Workspace,
    cfg: Arc<Config>,
    token: Option<Arc<[u8]>>,
    subscribers: Arc<AtomicUsize>,
    refresh: Arc<Mutex<Refresh>>,
}

/// When the slow gauges (cost from the ledger, snapshots from the backups) were last read.
struct Refresh {
    cost_at: Option<Instant>,
    snapshots_seen: Option<u64>,
}

impl Shared {
    /// `Some(401)` when a token is set and the request does not carry it.
    fn refuse(&self, req: &HttpRequest) -> Option<HttpResponse> {
        crate::metrics::get().http_requests.inc();
        let Some(token) = &self.token else {
            return None;
        };
        let h = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if bearer_matches(h, token) {
            None
        } else {
            Some(
                HttpResponse::Unauthorized()
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tfops\""))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .body("a token is required: Authorization: Bearer <token>\n"),
            )
        }
    }

    async fn live(&self) -> Option<Live> {
        match tokio::time::timeout(LIVE_TIMEOUT, self.supervisor.send(LiveStatus)).await {
            Ok(Ok(l)) => Some(l),
            _ => None,
        }
    }

    /// Re-reads the cost ledger (at most every [`COST_EVERY`]) and the snapshot list (when a
    /// snapshot was taken since), off the worker thread.
    async fn refresh_slow_gauges(&self) {
        let m = crate::metrics::get();
        let (cost, backups) = {
            let mut r = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
            let cost = r.cost_at.is_none_or(|t| t.elapsed() >= COST_EVERY);
            if cost {
                r.cost_at = Some(Instant::now());
            }
            let taken = m.snapshots_taken.get();
            let backups = r.snapshots_seen != Some(taken);
            r.snapshots_seen = Some(taken);
            (cost, backups)
        };
        if !cost && !backups {
            return;
        }
        let (ws, cfg) = (self.ws.clone(), self.cfg.clone());
        let _ = web::block(move || {
            if cost {
                if let Ok(sum) = crate::schedule::ledger::summarize_file(&ws.cost_ledger()) {
                    for n in ServiceId::all(cfg.services.count) {
                        let t = sum.services.get(&n).cloned().unwrap_or_default();
                        m.cost(&n.to_string(), t.cost, t.saved);
                    }
                }
            }
            if backups {
                m.observe_backups(&cfg.state.backups);
            }
            if !cfg.state.replicate.is_empty() {
                use crate::state::{backend, replica_store, snapshot};
                let ledger = replica_store::read_ledger(&replica_store::ledger_path(
                    &ws.dot_tfops(),
                    backend::pinned_workspace().unwrap_or(backend::DEFAULT_WORKSPACE),
                ));
                if let Ok(snaps) = snapshot::list_quick(&cfg.state.backups) {
                    m.observe_replication(replica_store::oldest_unreplicated(
                        &snaps,
                        &ledger,
                        &cfg.state.replicate,
                    ));
                }
            }
        })
        .await;
    }
}

fn unavailable(what: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "1"))
        .body(format!("{what}\n"))
}

async fn index(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(PAGE)
}

async fn metrics(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    let Some(live) = sh.live().await else {
        return unavailable("the supervisor did not answer");
    };
    let m = crate::metrics::get();
    m.observe_status(&live.status, live.intake);
    sh.refresh_slow_gauges().await;
    m.before_scrape();
    // OpenMetrics to those who ask for it (Prometheus does), the classic text to the rest.
    let open = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let (ctype, body) = if open {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.encode(),
        )
    } else {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            m.encode_classic(),
        )
    };
    HttpResponse::Ok()
        .content_type(ctype)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

async fn api_status(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    let Some(live) = sh.live().await else {
        return unavailable("the supervisor did not answer");
    };
    let (ws, cfg) = (sh.ws.clone(), sh.cfg.clone());
    match web::block(move || {
        let mut doc = crate::status::document(&ws, &cfg, Some(&live.status));
        let workspace = crate::state::backend::pinned_workspace()
            .unwrap_or(crate::state::backend::DEFAULT_WORKSPACE);
        doc["replication"] = crate::state::replica_store::status(&cfg, &ws.dot_tfops(), workspace);
        doc["protected_state"] =
            crate::state::backend::protected_state(&cfg, &ws.root, workspace, false);
        doc
    })
    .await
    {
        Ok(doc) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(doc),
        Err(_) => unavailable("the status could not be read"),
    }
}

async fn healthz() -> HttpResponse {
    crate::metrics::get().http_requests.inc();
    HttpResponse::Ok().body("ok\n")
}

async fn readyz(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    match sh.live().await {
        Some(l) if l.ready => HttpResponse::Ok().body("ready\n"),
        Some(_) => unavailable("not ready: the intake is not watched"),
        None => unavailable("not ready: the supervisor did not answer"),
    }
}

async fn not_found(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    HttpResponse::NotFound()
        .body("not found: /, /metrics, /api/status, /api/events, /healthz, /readyz\n")
}

/// One `/api/events` subscriber's place, given back when its stream is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(count: &Arc<AtomicUsize>) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SUBSCRIBERS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Stream {
    _slot: Slot,
    sh: web::Data<Shared>,
    backlog: std::collections::VecDeque<Arc<Stamped>>,
    rx: tokio::sync::broadcast::Receiver<Arc<Stamped>>,
    tick: tokio::time::Interval,
    started: bool,
}

/// One server-sent event.
fn frame(event: &str, id: Option<u64>, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("event: {event}\n"));
    for line in data.lines() {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    s
}

fn event_frame(e: &Stamped) -> String {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    frame("event", Some(e.seq), &data)
}

impl Stream {
    async fn next(&mut self) -> String {
        if !self.started {
            self.started = true;
            return "retry: 2000\n\n".into();
        }
        if let Some(e) = self.backlog.pop_front() {
            return event_frame(&e);
        }
        use tokio::sync::broadcast::error::RecvError;
        tokio::select! {
            r = self.rx.recv() => match r {
                Ok(e) => event_frame(&e),
                Err(RecvError::Lagged(n)) => frame("lagged", None, &n.to_string()),
                Err(RecvError::Closed) => ": closed\n\n".into(),
            },
            _ = self.tick.tick() => match self.sh.live().await {
                Some(l) => {
                    let data = serde_json::json!({
                        "daemon": l.status.daemon,
                        "services": l.status.services,
                        "alarms": l.status.alarms,
                        "incoming": l.intake,
                        "updated_at": l.status.updated_at,
                    });
                    frame("tick", None, &data.to_string())
                }
                None => ": the supervisor did not answer\n\n".into(),
            },
        }
    }
}

async fn api_events(req: HttpRequest, sh: web::Data<Shared>) -> HttpResponse {
    if let Some(r) = sh.refuse(&req) {
        return r;
    }
    let Some(slot) = Slot::take(&sh.subscribers) else {
        return unavailable("too many event-stream clients; try again later");
    };
    let (recent, rx) = events::bus().subscribe();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let st = Stream {
        _slot: slot,
        sh: sh.clone(),
        backlog: recent.into(),
        rx,
        tick,
        started: false,
    };
    let body = futures_util::stream::unfold(st, |mut st| async move {
        let chunk = st.next().await;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), st))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// Binds `plan.addr` and serves until the actor system stops. Call from inside the system.
///
/// # Errors
/// [`HttpError::Bind`] when the address cannot be bound (in use, not ours).
pub fn start(
    plan: Plan,
    supervisor: Addr<SupervisorActor>,
    ws: Workspace,
    cfg: Arc<Config>,
) -> Result<SocketAddr, HttpError> {
    let shared = Shared {
        supervisor,
        ws,
        cfg,
        token: plan.token.as_ref().map(|t| Arc::from(t.0.as_bytes())),
        subscribers: Arc::new(AtomicUsize::new(0)),
        refresh: Arc::new(Mutex::new(Refresh {
            cost_at: None,
            snapshots_seen: None,
        })),
    };
    let data = web::Data::new(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/", web::get().to(index))
            .route("/metrics", web::get().to(metrics))
            .route("/api/status", web::get().to(api_status))
            .route("/api/events", web::get().to(api_events))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .max_connections(MAX_CONNECTIONS)
    .backlog(BACKLOG)
    .client_request_timeout(REQUEST_TIMEOUT)
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(KEEP_ALIVE)
    .disable_signals()
    .shutdown_timeout(1);
    let bind = |e| HttpError::Bind {
        addr: plan.addr,
        source: e,
    };
    let server = server.bind(plan.addr).map_err(bind)?;
    let bound = server.addrs().first().copied().unwrap_or(plan.addr);
    actix_rt::spawn(server.run());
    log::info!(
        "http: serving /, /metrics, /api/status, /api/events on http://{bound} ({})",
        if plan.token.is_some() {
            "a token is required"
        } else {
            "no token"
        }
    );
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn off_without_an_address() {
        assert_eq!(plan(None, None, Some("t".into())).unwrap(), None);
    }

    #[test]
    fn loopback_needs_no_token_and_any_address_takes_one() {
        for a in ["127.0.0.1:9180", "[::1]:9180"] {
            assert_eq!(plan(addr(a), None, None).unwrap().unwrap().token, None);
        }
        let t = Secret("abc".into());
        let p = plan(addr("0.0.0.0:9180"), Some(&t), None).unwrap().unwrap();
        assert_eq!(p.token, Some(t.clone()));
        // The environment's token wins; an empty one counts as none.
        let p = plan(addr("0.0.0.0:1"), Some(&t), Some("env".into()))
            .unwrap()
            .unwrap();
        assert_eq!(p.token, Some(Secret("env".into())));
        let p = plan(addr("0.0.0.0:1"), Some(&t), Some(String::new()))
            .unwrap()
            .unwrap();
        assert_eq!(p.token, Some(t));
    }

    #[test]
    fn a_non_loopback_address_without_a_token_is_refused() {
        for a in ["0.0.0.0:9180", "10.1.2.3:80", "[::]:9180"] {
            let e = plan(addr(a), Some(&Secret(String::new())), Some(String::new())).unwrap_err();
            assert!(matches!(e, HttpError::NeedsToken { .. }), "{a}");
            assert!(e.to_string().contains("token"));
        }
    }

    #[test]
    fn bearer_is_compared_exactly() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), b"s3cret"));
        for h in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cretX",
            b"bearer s3cret",
            b"Basic s3cret",
            b"s3cret",
            b"Bearer ",
        ] {
            assert!(
                !bearer_matches(Some(h), b"s3cret"),
                "{}",
                String::from_utf8_lossy(h)
            );
        }
        assert!(!bearer_matches(None, b"s3cret"));
    }

    #[test]
    fn a_multi_line_payload_is_one_event() {
        assert_eq!(
            frame("event", Some(3), "a\nb"),
            "id: 3\nevent: event\ndata: a\ndata: b\n\n"
        );
    }

    #[test]
    fn subscriber_slots_are_bounded_and_given_back() {
        let c = Arc::new(AtomicUsize::new(0));
        let slots: Vec<Slot> = (0..MAX_SUBSCRIBERS)
            .map(|_| Slot::take(&c).unwrap())
            .collect();
        assert!(Slot::take(&c).is_none());
        drop(slots);
        assert_eq!(c.load(Ordering::Acquire), 0);
        assert!(Slot::take(&c).is_some());
    }

    #[test]
    fn the_page_is_self_contained() {
        for external in ["http://", "https://", "src=\"//", "@import"] {
            assert!(!PAGE.contains(external), "{external} in page.html");
        }
        assert!(PAGE.contains("/api/events") && PAGE.contains("/api/status"));
    }
}
