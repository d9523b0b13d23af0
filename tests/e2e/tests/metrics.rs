//! What an operator watches: lineaged's `/metrics` scraped over plain
//! HTTP after known traffic (the credit story, a duplicate, bad messages
//! of two reasons, queries of two RPCs), each count exactly what was sent,
//! the graph's size as `GetStatus` reports it, the consumer's lag back to
//! 0, and the text valid Prometheus exposition; `/healthz` and `/readyz`
//! beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{
    Lineaged, NatsServer, WAIT, entity, publish, publish_raw, publish_with_msg_id, wait_for,
};
use lineage_proto::v1;
use prost::Message as _;

const LINEAGE: &str = "/lineage.v1.LineageService/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_happened() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.http_addr = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let http = lineaged.http_addr.expect("an HTTP listener");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;

    // 27 events, one of them again under another message id (past
    // JetStream's own deduplication, so lineaged's idempotency sees it),
    // two undecodable messages and one event on another workspace's subject.
    let story = credit_story();
    for event in &story {
        publish(&js, event).await;
    }
    publish_with_msg_id(&js, &story[0], "again").await;
    for (n, garbage) in [&[0xff, 0xfe, 0x00][..], &[0x0a, 0xff]]
        .into_iter()
        .enumerate()
    {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("garbage-{n}").as_str());
        publish_raw(&js, "lineage.events.lender", headers, garbage.to_vec()).await;
    }
    let mut elsewhere = story[1].clone();
    elsewhere.event_id = "elsewhere".into();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "elsewhere");
    publish_raw(
        &js,
        "lineage.events.other",
        headers,
        elsewhere.encode_to_vec(),
    )
    .await;
    let published = story.len() as u64 + 1 + 3;

    let status = lineaged
        .wait_status("every message handled", |s| {
            s.applied_seq == story.len() as u64 && s.duplicates == 1 && s.dead_lettered == 3
        })
        .await;

    // Two RPCs, one answered NOT_FOUND once.
    let mut client = lineaged.client().await;
    for (kind, name, version) in [
        (v1::EntityKind::ModelVersion, "credit-risk", "7"),
        (v1::EntityKind::DatasetVersion, "applications", "3"),
    ] {
        client
            .get_entity(v1::GetEntityRequest {
                entity: Some(entity("lender", kind, name, version)),
                ..Default::default()
            })
            .await
            .expect("the entity exists");
    }
    let missing = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(
                "lender",
                v1::EntityKind::ModelVersion,
                "credit-risk",
                "99",
            )),
            ..Default::default()
        })
        .await
        .expect_err("no such version");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    for version in ["6", "7"] {
        client
            .trace_model(v1::TraceModelRequest {
                workspace: "lender".into(),
                model: "credit-risk".into(),
                version: version.into(),
                ..Default::default()
            })
            .await
            .expect("the model traces");
    }

    // The lag is sampled every 2 s, and a call is counted once its answer
    // has left, which may be just after the client has it.
    let metrics = wait_for("the lag sampled at 0 and every call counted", || async {
        let metrics = scrape(http).await;
        let settled = metrics.value("lineage_consumer_lag_messages", &[]) == Some(0.0)
            && metrics.value("lineage_stream_last_sequence", &[]) == Some(published as f64)
            && metrics.value(
                "lineage_grpc_request_duration_seconds_count",
                &[("rpc", &format!("{LINEAGE}TraceModel"))],
            ) == Some(2.0);
        settled.then_some(metrics)
    })
    .await;

    let count = |name: &str, labels: &[(&str, &str)]| {
        metrics
            .value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{}", metrics.text))
    };
    assert_eq!(count("lineage_events_applied_total", &[]), 27.0);
    assert_eq!(count("lineage_duplicates_total", &[]), 1.0);
    assert_eq!(
        count("lineage_dead_letters_total", &[("reason", "undecodable")]),
        2.0
    );
    assert_eq!(
        count(
            "lineage_dead_letters_total",
            &[("reason", "workspace_mismatch")]
        ),
        1.0
    );
    // Every reason is reported, at 0 when it never happened.
    assert_eq!(
        count("lineage_dead_letters_total", &[("reason", "oversize")]),
        0.0
    );
    // Each message was appended in exactly one batch.
    assert_eq!(
        count("lineage_ingest_batch_messages_sum", &[]),
        published as f64
    );
    assert!(count("lineage_log_flush_duration_seconds_count", &[]) >= 1.0);
    assert!(count("lineage_ingest_commit_duration_seconds_count", &[]) >= 1.0);

    let get_entity = format!("{LINEAGE}GetEntity");
    let trace_model = format!("{LINEAGE}TraceModel");
    assert_eq!(
        count(
            "lineage_grpc_requests_total",
            &[("rpc", &get_entity), ("code", "OK")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "lineage_grpc_requests_total",
            &[("rpc", &get_entity), ("code", "NOT_FOUND")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "lineage_grpc_requests_total",
            &[("rpc", &trace_model), ("code", "OK")]
        ),
        2.0
    );
    assert_eq!(
        count(
            "lineage_grpc_request_duration_seconds_count",
            &[("rpc", &get_entity)]
        ),
        3.0
    );
    assert_eq!(
        count("lineage_grpc_requests_in_flight", &[("rpc", &get_entity)]),
        0.0
    );
    // The harness polled GetStatus; those calls are counted too.
    assert!(
        count(
            "lineage_grpc_requests_total",
            &[("rpc", &format!("{LINEAGE}GetStatus")), ("code", "OK")]
        ) >= 1.0
    );

    // The graph and the log as GetStatus reports them.
    assert_eq!(count("lineage_graph_nodes", &[]), status.nodes as f64);
    assert_eq!(count("lineage_graph_edges", &[]), status.edges as f64);
    assert!(status.nodes > 0 && status.edges > 0, "{status:?}");
    assert_eq!(count("lineage_graph_applied_sequence", &[]), 27.0);
    assert_eq!(count("lineage_log_head_sequence", &[]), 27.0);
    assert_eq!(
        count("lineage_consumer_acked_sequence", &[]),
        published as f64
    );
    for (gauge, value) in [
        ("lineage_ready", 1.0),
        ("lineage_ingest_connected", 1.0),
        ("lineage_ingest_healthy", 1.0),
        ("lineage_redactions_pending", 0.0),
        // No signing key, so no checkpoint.
        ("lineage_checkpoint_last_sequence", 0.0),
    ] {
        assert_eq!(count(gauge, &[]), value, "{gauge}");
    }

    // GetStatus reports the same lag figures.
    let status = lineaged
        .client()
        .await
        .get_status(v1::GetStatusRequest::default())
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.head_seq, 27);
    assert_eq!(status.stream_last_seq, published);
    assert_eq!(status.consumer_acked_seq, published);
    assert_eq!(status.consumer_lag, 0);

    assert_eq!(get(http, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(get(http, "/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(get(http, "/nothing-here").await.0, 404);

    lineaged.stop().await;
    // The listener stopped with the service.
    assert!(std::net::TcpStream::connect(http).is_err());
}

/// The exposition parser refuses what Prometheus would: a test of the
/// checks the test above relies on.
#[test]
fn the_exposition_check_refuses_malformed_text() {
    let valid = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    assert!(Exposition::parse(valid).is_ok());
    for (text, why) in [
        ("a_total 3\n", "no TYPE"),
        ("# TYPE a_total counter\na_total 3\n", "no HELP"),
        (
            "# HELP a A.\n# TYPE a gauge\na{x=\"1\" 3\n",
            "unclosed labels",
        ),
        ("# HELP a A.\n# TYPE a gauge\na three\n", "not a number"),
        ("# HELP a A.\n# TYPE a gauge\na 1\na 2\n", "a series twice"),
        (
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "buckets not cumulative",
        ),
        (
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
            "+Inf bucket is not the count",
        ),
    ] {
        assert!(
            Exposition::parse(text).is_err(),
            "accepted ({why}):\n{text}"
        );
    }
}

/// `/metrics`, checked as the Prometheus text format and parsed.
async fn scrape(http: SocketAddr) -> Exposition {
    let (status, head, body) = http_get(http, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    Exposition::parse(&body).unwrap_or_else(|error| panic!("{error} in\n{body}"))
}

/// A GET's status and body.
async fn get(http: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = http_get(http, path).await;
    (status, body)
}

/// One HTTP/1.1 GET over a plain socket: status, head and body. The body
/// must be exactly the `Content-Length` announced.
async fn http_get(http: SocketAddr, path: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect_timeout(&http, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream
            .write_all(request.as_bytes())
            .expect("send the request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the answer");
        raw
    })
    .await
    .expect("the request finished");
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("a Content-Length");
    assert_eq!(body.len(), length, "{head}");
    (status, head.to_owned(), body.to_owned())
}

/// A scrape, parsed: every sample by name and labels.
#[derive(Debug)]
struct Exposition {
    text: String,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Exposition {
    /// Parses the Prometheus text format (0.0.4), refusing what a
    /// Prometheus server would, and more: every sample must belong to a
    /// family declared with both HELP and TYPE, no series twice, and each
    /// histogram's buckets must be cumulative with `+Inf` equal to its count.
    fn parse(text: &str) -> Result<Self, String> {
        let mut help = BTreeSet::new();
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut samples = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let at = |problem: String| format!("line {}: {problem}: {line:?}", number + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("HELP"), Some(name), Some(_)) => {
                        check_name(name).map_err(at)?;
                        if !help.insert(name.to_owned()) {
                            return Err(at("HELP twice".into()));
                        }
                    }
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        check_name(name).map_err(at)?;
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(at(format!("unknown type {kind}")));
                        }
                        if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                            return Err(at("TYPE twice".into()));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let (name, labels, value) = parse_sample(line).map_err(at)?;
            let family = family_of(&name, &types)
                .ok_or_else(|| at(format!("{name} belongs to no TYPE declared before it")))?;
            if !help.contains(&family) {
                return Err(at(format!("family {family} has no HELP")));
            }
            if samples.insert((name, labels), value).is_some() {
                return Err(at("a series twice".into()));
            }
        }
        let exposition = Self {
            text: text.to_owned(),
            samples,
        };
        for (family, kind) in &types {
            if kind == "histogram" {
                exposition.check_histogram(family)?;
            }
        }
        Ok(exposition)
    }

    /// The value of the series `name{labels}` (exactly those labels).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    fn check_histogram(&self, family: &str) -> Result<(), String> {
        // Buckets by the labels besides `le`, in order of their bound.
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), value) in &self.samples {
            if name != &format!("{family}_bucket") {
                continue;
            }
            let mut rest = labels.clone();
            let bound = rest
                .remove("le")
                .ok_or_else(|| format!("{family}_bucket without le"))?;
            let bound = parse_value(&bound)?;
            series.entry(rest).or_default().push((bound, *value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|pair| pair[1].1 < pair[0].1) {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let count = self
                .samples
                .get(&(format!("{family}_count"), labels.clone()))
                .ok_or_else(|| format!("{family}{labels:?}: no _count"))?;
            if !self
                .samples
                .contains_key(&(format!("{family}_sum"), labels.clone()))
            {
                return Err(format!("{family}{labels:?}: no _sum"));
            }
            match buckets.last() {
                Some((bound, value)) if *bound == f64::INFINITY && value == count => {}
                _ => return Err(format!("{family}{labels:?}: +Inf bucket is not the count")),
            }
        }
        Ok(())
    }
}

/// The family a sample belongs to: its own name, or a histogram's or
/// summary's with the suffix of its part.
fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    let parts: &[(&str, &[&str])] = &[
        ("_bucket", &["histogram"]),
        ("_sum", &["histogram", "summary"]),
        ("_count", &["histogram", "summary"]),
    ];
    parts.iter().find_map(|(suffix, kinds)| {
        let family = name.strip_suffix(suffix)?;
        kinds
            .contains(&types.get(family)?.as_str())
            .then(|| family.to_owned())
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            inside = inside.trim_start_matches(',');
            if let Some(after) = inside.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = inside.split_once("=\"").ok_or("unclosed labels")?;
            check_name(label)?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().ok_or("unclosed label value")? {
                    (at, '"') => break at,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        'n' => value.push('\n'),
                        escaped @ ('\\' | '"') => value.push(escaped),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            inside = &after[end + 1..];
            if !inside.starts_with([',', '}']) {
                return Err("unclosed labels".into());
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp {timestamp}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    Ok((name.to_owned(), labels, value))
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| format!("{text:?} is not a number")),
    }
}
