//! Arbitrary requests to every RPC of a real lineaged that holds the credit
//! story (and a few facts more: a metric series to page, a second model,
//! and promotion criteria stored for credit-risk): field values drawn by
//! proptest (empty, 100 KiB, unicode and control-character strings; enum
//! values in and out of range; integers at 0 and MAX; repeated fields of
//! thousands of items; `as_of` moments before 1970 and past what
//! nanoseconds can hold; forged page tokens, and real ones edited; search
//! filters and promotion criteria valid, mutated and arbitrary), biased
//! towards the story's real names so that many requests get past
//! validation and are answered. A `WatchImpact` stream is read for its
//! first event (or error) for at most [`WATCH_FIRST_EVENT`], then dropped;
//! once the fuzzing is over every watch slot is free again.
//!
//! Every call must come back within its deadline with OK or a status a
//! client can act on: INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED,
//! FAILED_PRECONDITION (CheckPromotion of a model without stored criteria),
//! or DEADLINE_EXCEEDED when (and only when) it waited for a log sequence
//! that never comes. Never UNKNOWN, INTERNAL or UNAVAILABLE: those mean a
//! handler panicked, a task was lost or the service went away. Answers
//! stay within the request's bounds, and once every RPC has been fuzzed
//! (all at once, one thread each) the service still answers GetStatus with
//! the same graph, holds no watch the fuzzing dropped, and stops cleanly.
//!
//! `PROPTEST_CASES` sets the cases per RPC for longer runs by hand.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use lineage_e2e::events::{credit_story, event, metric, registered};
use lineage_e2e::{Lineaged, nats_with_events_stream, publish, wait_for};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

type Client = LineageServiceClient<Channel>;

/// The credit story's workspace.
const WS: &str = "lender";
/// The story's events, and so the graph's applied sequence.
const STORY_EVENTS: u64 = 31;
/// The promotion criteria the story stores for credit-risk (scorecard has
/// none).
const STORED_CRITERIA: &str =
    "metrics.auc >= 0.8 and status = 'COMPLETED' and no flagged upstream and approved";
/// When the story logs trial-1's loss series (its points' timestamp).
const LOSS_LOGGED_AT_NANOS: i64 = (1_772_323_200 + 28 * 60) * 1_000_000_000;

/// The credit story, then what the newer RPCs read: a loss series of six
/// steps for trial-1 (pages of points), an auc for trial-2 (a metric to
/// compare), scorecard@1 (a model without criteria) and credit-risk's
/// criteria.
fn story() -> Vec<v1::Event> {
    let mut events = credit_story();
    let loss = Payload::MetricsLogged(v1::MetricsLogged {
        run_id: "trial-1".into(),
        metrics: (0..6)
            .map(|step| v1::Metric {
                key: "loss".into(),
                value: 0.7 / (step + 1) as f64,
                step,
                timestamp: None,
            })
            .collect(),
    });
    let criteria = Payload::PromotionCriteriaSet(v1::PromotionCriteriaSet {
        model: "credit-risk".into(),
        criteria: STORED_CRITERIA.into(),
    });
    let more = [
        loss,
        metric("trial-2", "auc", 0.78),
        registered("scorecard", "1", "old-1", "model.pkl"),
        criteria,
    ];
    let story_minutes = events.len() as i64;
    events.extend(
        more.into_iter()
            .zip(1..)
            .map(|(payload, n)| event(&format!("fuzz-{n:03}"), WS, story_minutes + n, payload)),
    );
    events
}

/// The client deadline of a request that does not wait for the future.
const DEADLINE: Duration = Duration::from_secs(5);
/// The client deadline of one that waits for a sequence that never comes:
/// short, so such cases do not dominate the run, and long enough that the
/// service's answer (at 90 % of it) beats the client's own timer.
const WAITING_DEADLINE: Duration = Duration::from_secs(1);
/// How much longer than its deadline a call may take before it counts as
/// a hang.
const HANG_MARGIN: Duration = Duration::from_secs(5);

/// A huge string: a fortieth of the service's 4 MiB request bound, so even
/// a request with several of them is decoded.
const HUGE: usize = 100 * 1024;
/// The longest repeated field drawn.
const MAX_LIST: usize = 3_000;
/// Replays are read this far, then dropped.
const REPLAY_MESSAGES: usize = 3;
/// How long a watch is read for its first event (or error) before it is
/// dropped: its first look answers at once, so a watch still silent by
/// then waits for the future (which no one publishes here).
const WATCH_FIRST_EVENT: Duration = Duration::from_millis(500);
/// The service's default of concurrent watches (`--watch-concurrency`).
const WATCH_SLOTS: usize = 32;

/// Cases per RPC: `PROPTEST_CASES` when set, else a count that keeps the
/// test well under 40 seconds in a debug build.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

const DEFAULT_CASES: u32 = 384;

// ---------------------------------------------------------------------------
// Field values.

/// Names the story uses, so requests built from them find entities.
const STORY_NAMES: &[&str] = &[
    WS,
    "prep-3",
    "applications-raw",
    "applications",
    "features",
    "bureau-scores",
    "sweep-1",
    "trial-1",
    "trial-2",
    "old-1",
    "trial-1/model.pkl",
    "old-1/model.pkl",
    "model.pkl",
    "credit-risk",
    "credit-risk-2026",
    "scorecard",
    "auc",
    "loss",
    "credit-scoring-eu",
    "xgboost",
    "2.0.3",
    "cpu-pool-a",
    "2",
    "3",
    "6",
    "7",
    "1",
];

/// The story's entities, by kind, name and version.
const STORY_ENTITIES: &[(v1::EntityKind, &str, &str)] = &[
    (v1::EntityKind::Run, "prep-3", ""),
    (v1::EntityKind::Run, "trial-1", ""),
    (v1::EntityKind::Run, "sweep-1", ""),
    (v1::EntityKind::DatasetVersion, "applications-raw", "3"),
    (v1::EntityKind::DatasetVersion, "applications", "3"),
    (v1::EntityKind::DatasetVersion, "applications", "2"),
    (v1::EntityKind::DatasetVersion, "features", "3"),
    (v1::EntityKind::DatasetVersion, "bureau-scores", "2"),
    (v1::EntityKind::Artifact, "trial-1/model.pkl", ""),
    (v1::EntityKind::Artifact, "old-1/model.pkl", ""),
    (v1::EntityKind::ModelVersion, "credit-risk", "6"),
    (v1::EntityKind::ModelVersion, "credit-risk", "7"),
    (v1::EntityKind::ModelVersion, "scorecard", "1"),
    (v1::EntityKind::Endpoint, "credit-scoring-eu", ""),
    (v1::EntityKind::Experiment, "credit-risk-2026", ""),
    (v1::EntityKind::Environment, "xgboost", "2.0.3"),
    (v1::EntityKind::Compute, "cpu-pool-a", ""),
];

/// Strings of every awkward sort, or a story name.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(STORY_NAMES).prop_map(str::to_owned),
        1 => Just(String::new()),
        2 => "[a-z0-9._/:+=-]{1,12}",
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f]{1,8}",
        1 => "[a-z]{0,4}[\\x00\\n\\t\\x1b\\u{85}\\u{202e}\\u{feff}\\u{fffd}][a-z]{0,4}",
        1 => huge_text(),
    ]
    .boxed()
}

/// Strings at the identifier limits (64, 128, 256 bytes and one more)
/// and of 100 KiB.
fn huge_text() -> impl Strategy<Value = String> {
    select(vec![
        "a".repeat(65),
        "7".repeat(129),
        "a".repeat(256),
        "a".repeat(257),
        "a".repeat(HUGE),
        "é".repeat(HUGE / 2),
        "\u{1F600}".repeat(HUGE / 4),
        "\0".repeat(HUGE),
    ])
}

/// A short string, for lists of thousands.
fn short_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        select(STORY_NAMES).prop_map(str::to_owned),
        "[a-z0-9._-]{0,10}",
        "\\PC{0,6}",
    ]
}

fn workspace() -> BoxedStrategy<String> {
    prop_oneof![
        12 => Just(WS.to_owned()),
        1 => Just("other-workspace".to_owned()),
        3 => text(),
    ]
    .boxed()
}

/// An enum value: in `valid` mostly, else unspecified, out of range or
/// anything.
fn enum_value(valid: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = i32> + Clone {
    let past = valid.end().saturating_add(1);
    prop_oneof![
        12 => valid,
        1 => Just(0),
        1 => any::<i32>(),
        1 => select(vec![-1, i32::MIN, i32::MAX, past]),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..=100,
        2 => select(vec![0, 1, 1_000, 1_001, 1_024, 1_025, 20_000, 20_001, u32::MAX]),
        1 => any::<u32>(),
    ]
}

/// A sequence that the service will never apply.
fn future_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(STORY_EVENTS + 1),
        Just(u64::MAX),
        (STORY_EVENTS + 1)..=u64::MAX,
    ]
}

/// A sequence to wait for: one already applied, rarely one in the future
/// (each of those costs a [`WAITING_DEADLINE`]).
fn wait_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        10 => Just(0),
        30 => 1..=STORY_EVENTS,
        1 => future_seq(),
    ]
}

/// A sequence bounding a range (nothing waits for it).
fn range_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => Just(0),
        8 => 0..=(STORY_EVENTS + 2),
        1 => select(vec![u64::MAX, u64::MAX - 1, 1 << 63]),
        1 => any::<u64>(),
    ]
}

fn timestamp() -> impl Strategy<Value = pbjson_types::Timestamp> {
    // The story happens from 2026-03-01T00:01Z, a minute an event.
    let story: i64 = 1_772_323_200;
    let plausible = (story - 3_600..story + 3_600, 0..1_000_000_000);
    let edge_seconds = select(vec![
        0,
        -1,
        1,
        // The end of the accepted event times (2200), and after it.
        7_258_118_400,
        7_258_118_401,
        // Where seconds stop fitting in i64 nanoseconds.
        i64::MAX / 1_000_000_000,
        i64::MAX / 1_000_000_000 + 1,
        i64::MIN / 1_000_000_000 - 1,
        i64::MIN,
        i64::MAX,
    ]);
    let edge_nanos = select(vec![999_999_999, 1_000_000_000, -1, i32::MIN, i32::MAX]);
    prop_oneof![
        6 => plausible,
        2 => (edge_seconds, Just(0)),
        1 => (Just(story), edge_nanos),
        1 => (any::<i64>(), any::<i32>()),
    ]
    .prop_map(|(seconds, nanos)| pbjson_types::Timestamp { seconds, nanos })
}

fn as_of() -> impl Strategy<Value = Option<v1::AsOf>> {
    use v1::as_of::Point;
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(v1::AsOf { point: None })),
        2 => wait_seq().prop_map(|seq| Some(v1::AsOf { point: Some(Point::Seq(seq)) })),
        2 => timestamp().prop_map(|t| Some(v1::AsOf { point: Some(Point::RecordedAt(t)) })),
        2 => timestamp().prop_map(|t| Some(v1::AsOf { point: Some(Point::OccurredBy(t)) })),
    ]
}

fn story_entity() -> impl Strategy<Value = v1::EntityRef> {
    select(STORY_ENTITIES).prop_map(|(kind, name, version)| v1::EntityRef {
        workspace: WS.to_owned(),
        kind: kind as i32,
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

fn any_entity() -> impl Strategy<Value = v1::EntityRef> {
    (workspace(), enum_value(1..=8), text(), text()).prop_map(|(workspace, kind, name, version)| {
        v1::EntityRef {
            workspace,
            kind,
            name,
            version,
        }
    })
}

fn entity() -> impl Strategy<Value = Option<v1::EntityRef>> {
    prop_oneof![
        1 => Just(None),
        6 => story_entity().prop_map(Some),
        3 => any_entity().prop_map(Some),
    ]
}

/// A story model version mostly: what TraceModel and DiffLineage ask about.
fn model_entity() -> impl Strategy<Value = Option<v1::EntityRef>> {
    let model = |version: &str| v1::EntityRef {
        workspace: WS.to_owned(),
        kind: v1::EntityKind::ModelVersion as i32,
        name: "credit-risk".to_owned(),
        version: version.to_owned(),
    };
    prop_oneof![
        4 => select(vec![model("6"), model("7"), model("8")]).prop_map(Some),
        2 => entity(),
    ]
}

/// A repeated field: a few valid items mostly, sometimes any items,
/// past the service's filter bound (32), or thousands of them.
fn list<V, A>(valid: V, any_item: A) -> impl Strategy<Value = Vec<V::Value>>
where
    V: Strategy,
    A: Strategy<Value = V::Value> + Clone,
    V::Value: Debug,
{
    prop_oneof![
        12 => prop::collection::vec(valid, 0..=3),
        1 => prop::collection::vec(any_item.clone(), 0..=4),
        1 => prop::collection::vec(any_item.clone(), 5..=40),
        1 => prop::collection::vec(any_item, 0..=MAX_LIST),
    ]
}

fn page_token() -> impl Strategy<Value = String> {
    let runs = [
        "trial-1", "trial-2", "old-1", "prep-3", "zzz", "bad/run", "",
    ];
    prop_oneof![
        3 => Just(String::new()),
        2 => select(runs.to_vec()).prop_map(|run| hex::encode(format!("after:{run}"))),
        1 => text().prop_map(|raw| hex::encode(format!("after:{raw}"))),
        1 => "[0-9a-f]{0,64}",
        1 => text(),
    ]
}

fn public_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        // The ed25519 base point: a valid key that signed nothing here.
        1 => Just("5866666666666666666666666666666666666666666666666666666666666666".to_owned()),
        2 => "[0-9a-f]{64}",
        1 => "[0-9a-fA-F]{0,130}",
        1 => text(),
    ]
}

// ---------------------------------------------------------------------------
// Filters, criteria and sort keys.

/// Search terms that parse, most about the story's runs.
const SEARCH_TERMS: &[&str] = &[
    "metrics.auc > 0.8",
    "metrics.auc >= 0.81",
    "metrics.auc != 0.81",
    "metrics.auc <> 1",
    "metrics.`auc` = 0.81",
    "metrics.loss < 0.5",
    "metrics.loss <= -1e308",
    "params.lr = '0.01'",
    "params.lr = \"0.1\"",
    "params.lr = 0.03",
    "params.lr >= 0.02",
    "params.lr like '0.%'",
    "params.lr ilike '%1'",
    "params.`l r` = 'x\\'y'",
    "tags.team = 'credit-risk'",
    "tags.team like '%r_sk%'",
    "status = 'COMPLETED'",
    "STATUS != 'failed'",
    "started_at > '2026-01-01'",
    "ended_at <= '2026-07-01T12:00:00Z'",
    "experiment = 'credit-risk-2026'",
    "name = 'trial-1'",
    "code_version = '9f2c1e7'",
    "compute = 'cpu-pool-a'",
    "environment = 'xgboost@2.0.3'",
    "environment = 'xgboost'",
    "parent = 'sweep-1'",
    "uses dataset 'applications@3'",
    "uses dataset 'features'",
    "uses dataset 'nowhere@1'",
    "uses model 'credit-risk@7'",
    "produced dataset 'applications@3'",
    "upstream of model 'credit-risk@7'",
    "upstream of model 'credit-risk@6'",
    "UPSTREAM OF MODEL 'scorecard@1'",
];

/// Terms only promotion criteria take.
const PROMOTION_TERMS: &[&str] = &[
    "no flagged upstream",
    "No Flagged Upstream",
    "approved",
    "stages approved",
];

/// Operators and look-alikes, put where they do not belong.
const OPERATORS: &[&str] = &[
    "=", "!=", "<>", "<", "<=", ">", ">=", "==", "=<", "=>", "!", "~", "like", "ilike", "in", "is",
    "between", "\u{2265}", "\u{2260}", "", " ", "and", "or", "not", "(", ")",
];

/// What filters are made of (separated by spaces), to be strung
/// together at random.
const FILTER_WORDS: &str = "metrics.auc metrics. metrics params.lr tags.team ` `auc` status \
    started_at ended_at experiment name code_version compute environment parent uses dataset \
    model upstream of produced no flagged approved stages and AND or ' \" \\ '0.01' \
    'applications@3' 'credit-risk@7' 'COMPLETED' '2026-01-01' '2026-13-45T25:61:61Z' 0.8 -1 \
    1e309 -0 NaN inf 0x1F % _ = != < >= like ilike \u{e9} \0 \u{202e} \u{1F600}";

/// A filter that parses: one to four terms, promotion terms drawn
/// `promotion` times in nine.
fn valid_filter(promotion: u32) -> BoxedStrategy<String> {
    let term = prop_oneof![
        9 - promotion => select(SEARCH_TERMS),
        promotion => select(PROMOTION_TERMS),
    ];
    (
        prop::collection::vec(term, 1..=4),
        select(vec![" and ", " AND ", "  and\t", "\nand\n"]),
    )
        .prop_map(|(terms, and)| terms.join(and))
        .boxed()
}

/// `text` edited at a character boundary: cut short, an operator put in or
/// in place of a part, a quote taken away or added, a character put in, a
/// part taken away, or its halves swapped.
fn mutated(text: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    (
        text,
        (any::<Index>(), any::<Index>(), 0..7u8),
        (select(OPERATORS), any::<char>()),
    )
        .prop_map(|(text, (at, to, how), (operator, c))| {
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(at, _)| at)
                .chain([text.len()])
                .collect();
            let (a, b) = (
                bounds[at.index(bounds.len())],
                bounds[to.index(bounds.len())],
            );
            let (lo, hi) = (a.min(b), a.max(b));
            match how {
                0 => text[..a].to_owned(),
                1 => format!("{}{operator}{}", &text[..a], &text[a..]),
                2 => format!("{}{operator}{}", &text[..lo], &text[hi..]),
                3 => match text.find(['\'', '"', '`']) {
                    Some(quote) => format!("{}{}", &text[..quote], &text[quote + 1..]),
                    None => format!("{}'{}", &text[..a], &text[a..]),
                },
                4 => format!("{}{c}{}", &text[..a], &text[a..]),
                5 => format!("{}{}", &text[..lo], &text[hi..]),
                _ => format!("{}{}", &text[a..], &text[..a]),
            }
        })
}

/// `and` deep: a term repeated around the 64-term bound and far past it
/// (and past 4096 bytes), bare `and`s, a dangling `and`.
fn repeated_and() -> impl Strategy<Value = String> {
    (
        select(vec![
            "approved",
            "metrics.auc > 0.8",
            "name = 'x'",
            "upstream of model 'credit-risk@7'",
        ]),
        select(vec![2usize, 63, 64, 65, 300, 1_000, 5_000]),
        0..4u8,
    )
        .prop_map(|(term, times, how)| match how {
            0 => vec![term; times].join(" and "),
            1 => "and ".repeat(times),
            2 => format!("{term}{}", " and".repeat(times)),
            _ => format!("{} and", vec![term; times].join(" and ")),
        })
}

/// A search filter (`promotion` 1) or promotion criteria (3): empty,
/// valid, mutated, words of the language strung at random, deep `and`s,
/// or any text.
fn filter(promotion: u32) -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just(String::new()),
        10 => valid_filter(promotion),
        4 => mutated(valid_filter(promotion)),
        2 => prop::collection::vec(select(FILTER_WORDS.split(' ').collect::<Vec<_>>()), 0..=12)
            .prop_map(|words| words.join(" ")),
        1 => repeated_and(),
        1 => text(),
    ]
    .boxed()
}

/// Sort keys that parse.
const ORDER_KEYS: &[&str] = &[
    "metrics.auc",
    "metrics.auc DESC",
    "metrics.loss asc",
    "params.lr",
    "params.lr DESC",
    "tags.team",
    "started_at",
    "ended_at DESC",
    "name",
    "run_id desc",
    "metrics.`a b`",
];

/// Sort keys that do not.
const BAD_ORDER_KEYS: &[&str] = &[
    "",
    "metrics.",
    "metrics",
    "params.lr SIDEWAYS",
    "params.lr ASC DESC",
    "status",
    "metrics.auc,",
    "DESC",
    "metrics.`unclosed",
];

fn order_key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => select(ORDER_KEYS).prop_map(str::to_owned),
        2 => select(BAD_ORDER_KEYS).prop_map(str::to_owned),
        1 => short_text(),
    ]
}

fn order_by() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        12 => list(select(ORDER_KEYS).prop_map(str::to_owned), order_key()),
        // The bound of 8 keys, and one more.
        1 => prop::collection::vec(select(ORDER_KEYS).prop_map(str::to_owned), 8..=9),
    ]
}

// ---------------------------------------------------------------------------
// Page tokens of searches and metric histories.

/// A search the story has more than one page of (at a page size of 1), and
/// the token of its second page: a search token is bound to its question,
/// so only these reach the token's content.
#[derive(Clone, Debug)]
struct SearchPage {
    experiments: Vec<String>,
    filter: String,
    order_by: Vec<String>,
    token: String,
}

/// The questions of [`SEARCH_PAGES`]: experiments, filter, order.
const PAGED_SEARCHES: &[(&[&str], &str, &[&str])] = &[
    (&[], "", &[]),
    (
        &["credit-risk-2026"],
        "status = 'COMPLETED'",
        &["metrics.auc DESC"],
    ),
    (&[], "params.lr like '0.%'", &["params.lr", "name DESC"]),
    (
        &[],
        "",
        &["started_at DESC", "tags.team", "ended_at", "run_id"],
    ),
    (&[], "uses dataset 'applications'", &["metrics.loss"]),
];

/// The second pages of [`PAGED_SEARCHES`], asked of the service before the
/// fuzzing starts.
static SEARCH_PAGES: OnceLock<Vec<SearchPage>> = OnceLock::new();

async fn ask_search_pages(client: &mut Client) -> Vec<SearchPage> {
    let mut pages = Vec::new();
    for (experiments, filter, order_by) in PAGED_SEARCHES {
        let experiments: Vec<String> = experiments.iter().map(|&e| e.to_owned()).collect();
        let order_by: Vec<String> = order_by.iter().map(|&key| key.to_owned()).collect();
        let first = client
            .search_runs(v1::SearchRunsRequest {
                workspace: WS.into(),
                experiments: experiments.clone(),
                filter: (*filter).into(),
                order_by: order_by.clone(),
                page_size: 1,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("searching {filter:?}: {status:?}"))
            .into_inner();
        assert_eq!(first.runs.len(), 1, "{filter:?} by {order_by:?}");
        assert!(
            !first.next_page_token.is_empty(),
            "{filter:?} by {order_by:?} has a second page"
        );
        pages.push(SearchPage {
            experiments,
            filter: (*filter).into(),
            order_by,
            token: first.next_page_token,
        });
    }
    pages
}

/// Token bodies a decoder must refuse, or take, without trusting their
/// counts and lengths: after the version and the question's fingerprint,
/// the number of sort values, each value (tag, then its bytes), the run
/// id's length and the run id.
fn crafted_token_bodies() -> Vec<Vec<u8>> {
    let mut bodies = vec![
        // One text value of 4 GiB.
        vec![1, 2, 0xff, 0xff, 0xff, 0xff],
        // A run id of 4 GiB.
        vec![0, 0xff, 0xff, 0xff, 0xff],
        // A run id that is not UTF-8.
        vec![0, 3, 0, 0, 0, 0xff, 0xfe, 0xfd],
        // 255 values; an unknown tag; nothing at all.
        vec![255],
        vec![1, 9],
        Vec::new(),
        // Eight absent values and an empty run id.
        [vec![8], vec![0; 8], vec![0; 4]].concat(),
    ];
    // A NaN, a time at the end of time, trailing bytes.
    let mut nan = vec![1, 1];
    nan.extend(f64::NAN.to_bits().to_le_bytes());
    nan.extend([7, 0, 0, 0]);
    nan.extend(b"trial-1");
    bodies.push(nan);
    let mut time = vec![1, 3];
    time.extend(i64::MIN.to_le_bytes());
    time.extend([7, 0, 0, 0]);
    time.extend(b"trial-1");
    time.extend(b"trailing");
    bodies.push(time);
    bodies
}

/// How a real token is edited before it is sent back.
#[derive(Clone, Debug)]
enum TokenEdit {
    /// As issued: the next page.
    Keep,
    /// One byte of the body changed.
    Flip(Index, u8),
    /// The body cut short.
    Truncate(Index),
    /// Bytes added at the end.
    Append(Vec<u8>),
    /// Another body after the version and fingerprint.
    Body(Vec<u8>),
    /// One byte of the version or fingerprint changed.
    Header(Index, u8),
    /// An odd number of hex digits; upper-case digits.
    OddHex,
    Upper,
}

fn token_edit() -> impl Strategy<Value = TokenEdit> {
    prop_oneof![
        4 => Just(TokenEdit::Keep),
        3 => (any::<Index>(), 1..=u8::MAX).prop_map(|(at, by)| TokenEdit::Flip(at, by)),
        2 => any::<Index>().prop_map(TokenEdit::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..=16).prop_map(TokenEdit::Append),
        2 => select(crafted_token_bodies()).prop_map(TokenEdit::Body),
        1 => prop::collection::vec(any::<u8>(), 0..=48).prop_map(TokenEdit::Body),
        1 => (any::<Index>(), 1..=u8::MAX).prop_map(|(at, by)| TokenEdit::Header(at, by)),
        1 => Just(TokenEdit::OddHex),
        1 => Just(TokenEdit::Upper),
    ]
}

/// The version byte and the question's fingerprint.
const SEARCH_TOKEN_HEADER: usize = 9;

fn edit_token(token: &str, edit: &TokenEdit) -> String {
    let mut bytes = hex::decode(token).expect("the service issues hex tokens");
    assert!(bytes.len() > SEARCH_TOKEN_HEADER, "{token}");
    let body = SEARCH_TOKEN_HEADER..bytes.len();
    match edit {
        TokenEdit::Keep => {}
        TokenEdit::Flip(at, by) => {
            let at = body.start + at.index(body.len());
            bytes[at] ^= by;
        }
        TokenEdit::Truncate(at) => bytes.truncate(body.start + at.index(body.len())),
        TokenEdit::Append(more) => bytes.extend(more),
        TokenEdit::Body(other) => {
            bytes.truncate(body.start);
            bytes.extend(other);
        }
        TokenEdit::Header(at, by) => bytes[at.index(SEARCH_TOKEN_HEADER)] ^= by,
        TokenEdit::OddHex => return format!("{token}0"),
        TokenEdit::Upper => return token.to_uppercase(),
    }
    hex::encode(bytes)
}

/// A page token of a metric's history: empty, the service's format with
/// steps and times in and out of range or malformed, or anything.
fn points_token() -> impl Strategy<Value = String> {
    let story = LOSS_LOGGED_AT_NANOS.to_string();
    let step = prop_oneof![
        4 => (-1i64..=6).prop_map(|step| step.to_string()),
        1 => any::<i64>().prop_map(|step| step.to_string()),
        1 => select(vec![
            "-9223372036854775808", "9223372036854775807", "9223372036854775808", "+1", " 1",
            "1e3", "", "0x1", "\u{661}",
        ])
        .prop_map(str::to_owned),
    ];
    let nanos = prop_oneof![
        4 => Just(story.clone()),
        1 => any::<i64>().prop_map(|nanos| nanos.to_string()),
        1 => select(vec![
            "0", "-1", "-9223372036854775808", "9223372036854775807",
            "99999999999999999999", "", "x", "1:2",
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        6 => Just(String::new()),
        4 => (step, nanos)
            .prop_map(|(step, nanos)| hex::encode(format!("points-after:{step}:{nanos}"))),
        1 => text().prop_map(|raw| hex::encode(format!("points-after:{raw}"))),
        1 => Just(hex::encode("after:trial-1")),
        1 => "[0-9a-fA-F]{0,64}",
        1 => text(),
    ]
}

// ---------------------------------------------------------------------------
// The story's runs, models and watch roots.

const RUNS: &[&str] = &["prep-3", "sweep-1", "trial-1", "trial-2", "old-1"];

fn run_id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => select(RUNS).prop_map(str::to_owned),
        1 => short_text(),
    ]
}

/// What a watch starts from: mostly a story entity something is
/// downstream of (so the first look answers at once), sometimes one
/// nothing is downstream of (the watch waits), any entity, or none.
fn watch_root() -> impl Strategy<Value = Option<v1::EntityRef>> {
    let followed = STORY_ENTITIES
        .iter()
        .filter(|(kind, name, version)| {
            // Nothing is downstream of these (an experiment's runs are
            // its members, which impact does not follow).
            !matches!(
                (*kind, *name, *version),
                (v1::EntityKind::ModelVersion, "credit-risk", "6")
                    | (v1::EntityKind::ModelVersion, "scorecard", "1")
                    | (v1::EntityKind::Endpoint, _, _)
                    | (v1::EntityKind::Experiment, _, _)
            )
        })
        .map(|&(kind, name, version)| entity_ref(kind, name, version))
        .collect::<Vec<_>>();
    prop_oneof![
        10 => select(followed).prop_map(Some),
        1 => story_entity().prop_map(Some),
        2 => any_entity().prop_map(Some),
        1 => Just(None),
    ]
}

fn entity_ref(kind: v1::EntityKind, name: &str, version: &str) -> v1::EntityRef {
    v1::EntityRef {
        workspace: WS.to_owned(),
        kind: kind as i32,
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Requests.

/// One call of one RPC.
#[derive(Clone, Debug)]
enum Call {
    GetEntity(v1::GetEntityRequest),
    Provenance(v1::TraversalRequest),
    Impact(v1::TraversalRequest),
    RunsUsingDataset(v1::RunsUsingDatasetRequest),
    TraceModel(v1::TraceModelRequest),
    GetStatus(v1::GetStatusRequest),
    VerifyLog(v1::VerifyLogRequest),
    DiffLineage(v1::DiffLineageRequest),
    ExportProv(v1::ExportProvRequest),
    Replay(v1::ReplayRequest),
    SearchRuns(v1::SearchRunsRequest),
    CompareRuns(v1::CompareRunsRequest),
    GetMetricHistory(v1::GetMetricHistoryRequest),
    CheckPromotion(v1::CheckPromotionRequest),
    WatchImpact(v1::WatchImpactRequest),
}

fn get_entity() -> impl Strategy<Value = Call> {
    (entity(), wait_seq(), as_of()).prop_map(|(entity, min_seq, as_of)| {
        Call::GetEntity(v1::GetEntityRequest {
            entity,
            min_seq,
            as_of,
        })
    })
}

fn traversal() -> impl Strategy<Value = v1::TraversalRequest> {
    (
        (
            entity(),
            count(),
            list(1..=10, enum_value(1..=10)),
            list(1..=8, enum_value(1..=8)),
        ),
        (
            count(),
            enum_value(0..=2),
            any::<bool>(),
            wait_seq(),
            as_of(),
        ),
    )
        .prop_map(
            |(
                (root, max_depth, edge_kinds, node_kinds),
                (limit, view, compact_edges, min_seq, as_of),
            )| v1::TraversalRequest {
                root,
                max_depth,
                edge_kinds,
                node_kinds,
                limit,
                view,
                compact_edges,
                min_seq,
                as_of,
            },
        )
}

fn runs_using_dataset() -> impl Strategy<Value = Call> {
    let dataset = prop_oneof![
        3 => select(vec!["applications", "features", "bureau-scores", "applications-raw"])
            .prop_map(str::to_owned),
        1 => text(),
    ];
    let version = prop_oneof![
        2 => Just(String::new()),
        2 => select(vec!["2", "3"]).prop_map(str::to_owned),
        1 => text(),
    ];
    (
        (workspace(), dataset, version, count()),
        (page_token(), enum_value(0..=2), wait_seq(), as_of()),
    )
        .prop_map(
            |((workspace, dataset, version, page_size), (page_token, view, min_seq, as_of))| {
                Call::RunsUsingDataset(v1::RunsUsingDatasetRequest {
                    workspace,
                    dataset,
                    version,
                    page_size,
                    page_token,
                    view,
                    min_seq,
                    as_of,
                })
            },
        )
}

fn trace_model() -> impl Strategy<Value = Call> {
    let model = prop_oneof![3 => Just("credit-risk".to_owned()), 1 => text()];
    let version = prop_oneof![
        3 => select(vec!["6", "7", "8"]).prop_map(str::to_owned),
        1 => text(),
    ];
    (
        (workspace(), model, version),
        (enum_value(0..=2), any::<bool>(), wait_seq(), as_of()),
    )
        .prop_map(
            |((workspace, model, version), (view, compact_edges, min_seq, as_of))| {
                Call::TraceModel(v1::TraceModelRequest {
                    workspace,
                    model,
                    version,
                    view,
                    compact_edges,
                    min_seq,
                    as_of,
                })
            },
        )
}

fn get_status() -> impl Strategy<Value = Call> {
    any::<bool>().prop_map(|include_state_digest| {
        Call::GetStatus(v1::GetStatusRequest {
            include_state_digest,
        })
    })
}

fn verify_log() -> impl Strategy<Value = Call> {
    (range_seq(), range_seq(), public_key()).prop_map(|(from_seq, to_seq, public_key)| {
        Call::VerifyLog(v1::VerifyLogRequest {
            from_seq,
            to_seq,
            public_key,
        })
    })
}

fn diff_lineage() -> impl Strategy<Value = Call> {
    (
        model_entity(),
        model_entity(),
        count(),
        wait_seq(),
        as_of(),
        as_of(),
    )
        .prop_map(|(a, b, max_depth, min_seq, a_as_of, b_as_of)| {
            Call::DiffLineage(v1::DiffLineageRequest {
                a,
                b,
                max_depth,
                min_seq,
                a_as_of,
                b_as_of,
            })
        })
}

fn export_prov() -> impl Strategy<Value = Call> {
    (
        entity(),
        enum_value(0..=2),
        count(),
        count(),
        wait_seq(),
        as_of(),
    )
        .prop_map(|(root, direction, max_depth, limit, min_seq, as_of)| {
            Call::ExportProv(v1::ExportProvRequest {
                root,
                direction,
                max_depth,
                limit,
                min_seq,
                as_of,
            })
        })
}

fn replay() -> impl Strategy<Value = Call> {
    let time = prop_oneof![3 => Just(None), 1 => timestamp().prop_map(Some)];
    let workspaces = prop_oneof![
        8 => list(Just(WS.to_owned()), short_text()),
        1 => prop::collection::vec(workspace(), 1..=2),
    ];
    (
        (range_seq(), range_seq(), time.clone(), time),
        (workspaces, list(10..=24, enum_value(10..=24)), entity()),
    )
        .prop_map(
            |((from_seq, to_seq, from_time, to_time), (workspaces, kinds, entity))| {
                Call::Replay(v1::ReplayRequest {
                    from_seq,
                    to_seq,
                    from_time,
                    to_time,
                    workspaces,
                    kinds,
                    entity,
                })
            },
        )
}

/// A search asked afresh (any page token), or the next page of one of
/// [`SEARCH_PAGES`] with its token as issued or edited.
fn search_runs() -> impl Strategy<Value = Call> {
    let experiments = prop_oneof![
        12 => list(Just("credit-risk-2026".to_owned()), short_text()),
        // The bound of 32 experiments, and one more.
        1 => prop::collection::vec(Just("credit-risk-2026".to_owned()), 32..=33),
    ];
    // The service's bound is 1,000 (larger is INVALID_ARGUMENT).
    let page_size = prop_oneof![
        8 => 0u32..=100,
        1 => select(vec![1, 2, 999, 1_000, 1_001, u32::MAX]),
        1 => any::<u32>(),
    ];
    let page_token = prop_oneof![8 => Just(String::new()), 1 => page_token()];
    let afresh = (
        (workspace(), experiments, filter(1), order_by()),
        (page_size.clone(), page_token),
    )
        .prop_map(
            |((workspace, experiments, filter, order_by), (page_size, page_token))| {
                v1::SearchRunsRequest {
                    workspace,
                    experiments,
                    filter,
                    order_by,
                    page_size,
                    page_token,
                    ..Default::default()
                }
            },
        );
    let pages = SEARCH_PAGES
        .get()
        .expect("the search pages are asked before the fuzzing")
        .clone();
    let next_page = (select(pages), token_edit(), page_size).prop_map(|(page, edit, page_size)| {
        v1::SearchRunsRequest {
            workspace: WS.to_owned(),
            page_token: edit_token(&page.token, &edit),
            experiments: page.experiments,
            filter: page.filter,
            order_by: page.order_by,
            page_size,
            ..Default::default()
        }
    });
    (
        prop_oneof![3 => afresh, 2 => next_page],
        enum_value(0..=2),
        wait_seq(),
    )
        .prop_map(|(request, view, min_seq)| {
            Call::SearchRuns(v1::SearchRunsRequest {
                view,
                min_seq,
                ..request
            })
        })
}

fn compare_runs() -> impl Strategy<Value = Call> {
    let run_ids = prop_oneof![
        // Two to five distinct runs of the story, in any order.
        10 => subsequence(RUNS, 2..=RUNS.len())
            .prop_shuffle()
            .prop_map(|runs| runs.into_iter().map(str::to_owned).collect()),
        // None, one, or one twice.
        1 => prop::collection::vec(select(RUNS).prop_map(str::to_owned), 0..=3),
        // The bound of 16 runs and one more: the story's and unknown ones.
        1 => (15usize..=17).prop_map(|count| {
            (0..count)
                .map(|n| RUNS.get(n).map_or_else(|| format!("unknown-{n}"), |&run| run.to_owned()))
                .collect()
        }),
        2 => list(run_id(), short_text()),
    ];
    let metric_keys = select(vec!["auc", "loss", "rmse", "lr"]).prop_map(str::to_owned);
    let lower_is_better = prop_oneof![
        12 => list(metric_keys.clone(), short_text()),
        // The bound of 256 keys and one more.
        1 => prop::collection::vec(metric_keys, 256..=257),
    ];
    (workspace(), run_ids, lower_is_better, wait_seq()).prop_map(
        |(workspace, run_ids, lower_is_better, min_seq)| {
            Call::CompareRuns(v1::CompareRunsRequest {
                workspace,
                run_ids,
                lower_is_better,
                min_seq,
            })
        },
    )
}

fn get_metric_history() -> impl Strategy<Value = Call> {
    let run_id = prop_oneof![
        4 => select(vec!["trial-1", "trial-2"]).prop_map(str::to_owned),
        2 => run_id(),
        1 => text(),
    ];
    let key = prop_oneof![
        4 => select(vec!["loss", "auc"]).prop_map(str::to_owned),
        1 => text(),
    ];
    let page_size = prop_oneof![
        4 => count(),
        1 => select(vec![1, 2, 5, 6, 10_000, 10_001]),
    ];
    (
        (workspace(), run_id, key),
        (page_size, points_token(), wait_seq()),
    )
        .prop_map(
            |((workspace, run_id, key), (page_size, page_token, min_seq))| {
                Call::GetMetricHistory(v1::GetMetricHistoryRequest {
                    workspace,
                    run_id,
                    key,
                    page_size,
                    page_token,
                    min_seq,
                })
            },
        )
}

fn check_promotion() -> impl Strategy<Value = Call> {
    let model = prop_oneof![
        6 => Just("credit-risk".to_owned()),
        2 => Just("scorecard".to_owned()),
        1 => text(),
    ];
    let version = prop_oneof![
        6 => select(vec!["6", "7", "1", "8"]).prop_map(str::to_owned),
        1 => text(),
    ];
    let model_version = prop_oneof![
        3 => select(vec![("credit-risk", "7"), ("credit-risk", "6"), ("scorecard", "1")])
            .prop_map(|(model, version)| (model.to_owned(), version.to_owned())),
        2 => (model, version),
    ];
    let criteria = prop_oneof![
        // The stored criteria (FAILED_PRECONDITION for scorecard).
        4 => Just(String::new()),
        1 => select(vec![" ", "\t\n", "\u{3000}"]).prop_map(str::to_owned),
        8 => filter(3),
    ];
    (workspace(), model_version, criteria, wait_seq()).prop_map(
        |(workspace, (model, version), criteria, min_seq)| {
            Call::CheckPromotion(v1::CheckPromotionRequest {
                workspace,
                model,
                version,
                criteria,
                min_seq,
            })
        },
    )
}

fn watch_impact() -> impl Strategy<Value = Call> {
    // Mostly from 0, which the first look answers at once: a watch that
    // waits costs a whole [`WATCH_FIRST_EVENT`].
    let from_seq = prop_oneof![
        30 => Just(0),
        2 => 1..=STORY_EVENTS,
        1 => select(vec![STORY_EVENTS, STORY_EVENTS + 1, 1 << 63, u64::MAX - 1, u64::MAX]),
    ];
    (watch_root(), count(), from_seq).prop_map(|(root, max_depth, from_seq)| {
        Call::WatchImpact(v1::WatchImpactRequest {
            root,
            max_depth,
            from_seq,
        })
    })
}

/// Builds the strategy of one RPC's requests.
type CallStrategy = fn() -> BoxedStrategy<Call>;

/// Every RPC with the strategy of its requests (built on the thread that
/// draws from it: strategies are not `Send`).
fn every_rpc() -> Vec<(&'static str, CallStrategy)> {
    vec![
        ("GetEntity", || get_entity().boxed()),
        ("Provenance", || {
            traversal().prop_map(Call::Provenance).boxed()
        }),
        ("Impact", || traversal().prop_map(Call::Impact).boxed()),
        ("RunsUsingDataset", || runs_using_dataset().boxed()),
        ("TraceModel", || trace_model().boxed()),
        ("GetStatus", || get_status().boxed()),
        ("VerifyLog", || verify_log().boxed()),
        ("DiffLineage", || diff_lineage().boxed()),
        ("ExportProv", || export_prov().boxed()),
        ("Replay", || replay().boxed()),
        ("SearchRuns", || search_runs().boxed()),
        ("CompareRuns", || compare_runs().boxed()),
        ("GetMetricHistory", || get_metric_history().boxed()),
        ("CheckPromotion", || check_promotion().boxed()),
        ("WatchImpact", || watch_impact().boxed()),
    ]
}

// ---------------------------------------------------------------------------
// Calls and what their answers must be.

fn is_future(seq: u64) -> bool {
    seq > STORY_EVENTS
}

fn as_of_is_future(as_of: &Option<v1::AsOf>) -> bool {
    matches!(
        as_of,
        Some(v1::AsOf {
            point: Some(v1::as_of::Point::Seq(seq))
        }) if is_future(*seq)
    )
}

/// The most nodes a traversal may answer with: the request's limit within
/// the service's default (1,000) and maximum (20,000).
fn node_bound(limit: u32) -> usize {
    match limit {
        0 => 1_000,
        limit => limit.min(20_000) as usize,
    }
}

impl Call {
    /// Whether the call waits for a log sequence the service never
    /// applies, and so may (must, once its request is valid) end in
    /// DEADLINE_EXCEEDED.
    fn waits_for_the_future(&self) -> bool {
        match self {
            Call::GetEntity(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::Provenance(r) | Call::Impact(r) => {
                is_future(r.min_seq) || as_of_is_future(&r.as_of)
            }
            Call::RunsUsingDataset(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::TraceModel(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::DiffLineage(r) => {
                is_future(r.min_seq) || as_of_is_future(&r.a_as_of) || as_of_is_future(&r.b_as_of)
            }
            Call::ExportProv(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::SearchRuns(r) => is_future(r.min_seq),
            Call::CompareRuns(r) => is_future(r.min_seq),
            Call::GetMetricHistory(r) => is_future(r.min_seq),
            Call::CheckPromotion(r) => is_future(r.min_seq),
            // A watch from a sequence not applied yet opens and waits for
            // it (the first event is not waited for past
            // [`WATCH_FIRST_EVENT`]).
            Call::GetStatus(_) | Call::VerifyLog(_) | Call::Replay(_) | Call::WatchImpact(_) => {
                false
            }
        }
    }

    /// Sends the call with `deadline` and checks what an OK answer holds.
    async fn send(&self, client: &mut Client, deadline: Duration) -> Result<(), Status> {
        fn request<T>(message: &T, deadline: Duration) -> Request<T>
        where
            T: Clone,
        {
            let mut request = Request::new(message.clone());
            request.set_timeout(deadline);
            request
        }
        match self {
            Call::GetEntity(r) => {
                let entity = client.get_entity(request(r, deadline)).await?.into_inner();
                assert!(entity.r#ref.is_some(), "an entity names itself");
                assert!(entity.applied_seq <= STORY_EVENTS);
            }
            Call::Provenance(r) | Call::Impact(r) => {
                let answer = match self {
                    Call::Provenance(_) => client.provenance(request(r, deadline)).await?,
                    _ => client.impact(request(r, deadline)).await?,
                }
                .into_inner();
                let bound = node_bound(r.limit);
                assert!(!answer.nodes.is_empty(), "the root is in its subgraph");
                assert!(answer.nodes.len() <= bound, "{} nodes", answer.nodes.len());
                assert!(
                    answer.edges.len() <= 4 * bound,
                    "{} edges",
                    answer.edges.len()
                );
            }
            Call::RunsUsingDataset(r) => {
                let page = client
                    .runs_using_dataset(request(r, deadline))
                    .await?
                    .into_inner();
                let size = match r.page_size {
                    0 => 100,
                    size => size as usize,
                };
                assert!(page.runs.len() <= size, "{} runs", page.runs.len());
            }
            Call::TraceModel(r) => {
                let trace = client.trace_model(request(r, deadline)).await?.into_inner();
                assert!(trace.model.is_some(), "a trace holds its model version");
            }
            Call::GetStatus(r) => {
                let status = client.get_status(request(r, deadline)).await?.into_inner();
                assert!(status.ready);
                assert_eq!(status.applied_seq, STORY_EVENTS);
                assert_eq!(status.state_digest.is_empty(), !r.include_state_digest);
            }
            Call::VerifyLog(r) => {
                let answer = client.verify_log(request(r, deadline)).await?.into_inner();
                assert!(answer.records_checked <= STORY_EVENTS);
            }
            Call::DiffLineage(r) => {
                client.diff_lineage(request(r, deadline)).await?;
            }
            Call::ExportProv(r) => {
                let export = client.export_prov(request(r, deadline)).await?.into_inner();
                serde_json::from_str::<serde_json::Value>(&export.document)
                    .expect("a PROV export is JSON");
            }
            Call::Replay(r) => {
                let mut stream = client.replay(request(r, deadline)).await?.into_inner();
                for _ in 0..REPLAY_MESSAGES {
                    match stream.message().await? {
                        Some(record) => assert!((1..=STORY_EVENTS).contains(&record.seq)),
                        None => break,
                    }
                }
                // Dropped here, mid-stream or not.
            }
            Call::SearchRuns(r) => {
                let page = client.search_runs(request(r, deadline)).await?.into_inner();
                let size = match r.page_size {
                    0 => 100,
                    size => size as usize,
                };
                assert!(page.runs.len() <= size, "{} runs", page.runs.len());
                assert!(page.applied_seq <= STORY_EVENTS);
                for run in &page.runs {
                    let reference = run.r#ref.as_ref().expect("a run names itself");
                    assert_eq!(reference.workspace, WS, "a run of the workspace asked");
                    assert_eq!(reference.kind, v1::EntityKind::Run as i32);
                }
            }
            Call::CompareRuns(r) => {
                let comparison = client
                    .compare_runs(request(r, deadline))
                    .await?
                    .into_inner();
                let runs = r.run_ids.len();
                let compared: Vec<&str> = comparison
                    .runs
                    .iter()
                    .map(|run| run.r#ref.as_ref().map_or("", |r| r.name.as_str()))
                    .collect();
                assert_eq!(compared, r.run_ids, "the runs in the request's order");
                for field in &comparison.fields {
                    assert_eq!(field.values.len(), runs, "{}", field.field);
                }
                for metric in &comparison.metrics {
                    assert_eq!(metric.runs.len(), runs, "{}", metric.key);
                    assert!((metric.best_run as usize) < runs, "{}", metric.key);
                }
            }
            Call::GetMetricHistory(r) => {
                let history = client
                    .get_metric_history(request(r, deadline))
                    .await?
                    .into_inner();
                let size = match r.page_size {
                    0 => 1_000,
                    size => size as usize,
                };
                assert!(
                    history.points.len() <= size,
                    "{} points",
                    history.points.len()
                );
                assert!(
                    history.points.windows(2).all(|w| w[0].step <= w[1].step),
                    "points by step"
                );
                assert!(history.points.iter().all(|point| point.key == r.key));
                assert_eq!((&history.run_id, &history.key), (&r.run_id, &r.key));
            }
            Call::CheckPromotion(r) => {
                let check = client
                    .check_promotion(request(r, deadline))
                    .await?
                    .into_inner();
                assert!(check.model.is_some(), "a check names its model version");
                if r.criteria.trim().is_empty() {
                    assert_eq!(check.criteria, STORED_CRITERIA);
                    assert!(
                        !check.criteria_event_id.is_empty(),
                        "the stored criteria's event"
                    );
                } else {
                    assert_eq!(check.criteria, r.criteria);
                    assert!(check.criteria_event_id.is_empty());
                }
                assert!(!check.results.is_empty(), "criteria have a term at least");
                assert_eq!(
                    check.passed,
                    check.results.iter().all(|result| result.passed),
                    "passed when every criterion is"
                );
            }
            Call::WatchImpact(r) => {
                let mut stream = client
                    .watch_impact(request(r, deadline))
                    .await?
                    .into_inner();
                // Opened: the first event or error, unless it waits.
                let first = tokio::time::timeout(WATCH_FIRST_EVENT, stream.message()).await;
                if let Ok(first) = first {
                    let event = first?.expect("a watch follows the graph: it never just ends");
                    check_impact_event(r, &event);
                }
                // Dropped here, which frees its slot.
            }
        }
        Ok(())
    }
}

/// What a watch's event must be: an entity downstream of the root, by a
/// path from the root to it, that became downstream after `from_seq`.
fn check_impact_event(request: &v1::WatchImpactRequest, event: &v1::ImpactEvent) {
    let root = request.root.as_ref().expect("a watch has a root");
    let entity = event
        .entity
        .as_ref()
        .and_then(|entity| entity.r#ref.as_ref())
        .expect("an event names its entity");
    assert_eq!(
        event.path.len(),
        event.edges.len() + 1,
        "a path of {} entities joined by {} edges",
        event.path.len(),
        event.edges.len()
    );
    let first = &event.path[0];
    assert_eq!(
        (&first.workspace, first.kind, &first.name),
        (&root.workspace, root.kind, &root.name),
        "the path starts at the root"
    );
    assert_eq!(
        event.path.last(),
        Some(entity),
        "the path ends at the entity"
    );
    assert!(
        event.seq > request.from_seq && event.seq <= STORY_EVENTS,
        "arrived at {} watching after {}",
        event.seq,
        request.from_seq
    );
}

/// Opens every watch slot at once (and one more, which is refused), so a
/// watch the fuzzing dropped and the service did not free shows. Its
/// client's going away frees a slot a moment later: retried until then.
async fn every_watch_slot_is_free(client: &Client) {
    let watch = v1::WatchImpactRequest {
        root: Some(entity_ref(
            v1::EntityKind::DatasetVersion,
            "applications",
            "3",
        )),
        max_depth: 0,
        from_seq: 0,
    };
    wait_for("every watch slot free again", || {
        let (client, watch) = (client.clone(), watch.clone());
        async move {
            let mut open = Vec::new();
            for _ in 0..WATCH_SLOTS {
                match client.clone().watch_impact(watch.clone()).await {
                    Ok(stream) => open.push(stream.into_inner()),
                    Err(status) if status.code() == Code::ResourceExhausted => return None,
                    Err(status) => panic!("a watch answers {status:?}"),
                }
            }
            let refused = client
                .clone()
                .watch_impact(watch)
                .await
                .map(|_| ())
                .expect_err("every slot is taken");
            assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
            Some(())
        }
    })
    .await;
}

/// What one call came back with: OK or a status code.
type Outcome = Option<Code>;

/// Sends `call` and checks its outcome.
async fn check(mut client: Client, call: &Call) -> Result<Outcome, TestCaseError> {
    let waits = call.waits_for_the_future();
    let deadline = if waits { WAITING_DEADLINE } else { DEADLINE };
    let answer = tokio::time::timeout(deadline + HANG_MARGIN, call.send(&mut client, deadline))
        .await
        .map_err(|_| {
            TestCaseError::fail(format!(
                "no answer within {:?} of a {deadline:?} deadline",
                HANG_MARGIN
            ))
        })?;
    let Err(status) = answer else {
        prop_assert!(!waits, "OK, though it waited for a sequence never applied");
        return Ok(None);
    };
    let code = status.code();
    let allowed = match code {
        Code::InvalidArgument
        | Code::NotFound
        | Code::ResourceExhausted
        | Code::FailedPrecondition => true,
        Code::DeadlineExceeded => waits,
        _ => false,
    };
    prop_assert!(
        allowed,
        "answered {code:?} ({}), waits for the future: {waits}",
        status.message()
    );
    if waits {
        // Requests are validated, then wait: nothing else can come back.
        prop_assert!(
            matches!(code, Code::InvalidArgument | Code::DeadlineExceeded),
            "answered {code:?} ({}) while waiting for the future",
            status.message()
        );
    }
    Ok(Some(code))
}

/// At most `max` characters of `text`.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}... ({} bytes in all)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// How many calls of an RPC came back with each outcome (`Ok` or a code).
type Outcomes = BTreeMap<String, usize>;

/// Fuzzes one RPC; the outcomes seen, or the minimal failing call.
fn fuzz_rpc(
    runtime: &tokio::runtime::Handle,
    client: &Client,
    strategy: CallStrategy,
) -> Result<Outcomes, String> {
    let strategy = strategy();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        // A failing case shrinks for a bounded time: each try is a call.
        max_shrink_time: 30_000,
        ..RunnerConfig::default()
    });
    let outcomes = Mutex::new(Outcomes::new());
    runner
        .run(&strategy, |call| {
            let outcome = runtime.block_on(check(client.clone(), &call))?;
            let name = outcome.map_or_else(|| "Ok".to_owned(), |code| format!("{code:?}"));
            *outcomes
                .lock()
                .expect("no case panics holding the lock")
                .entry(name)
                .or_default() += 1;
            Ok(())
        })
        .map_err(|error| shortened(&error.to_string(), 4_000))?;
    Ok(outcomes.into_inner().expect("the lock is free"))
}

#[test]
fn every_rpc_answers_arbitrary_requests_with_a_status_a_client_can_act_on() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (nats, js) = runtime.block_on(nats_with_events_stream());
    let data = tempfile::tempdir().expect("data dir");
    let (lineaged, client, before) = runtime.block_on(async {
        let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
        let story = story();
        assert_eq!(story.len() as u64, STORY_EVENTS);
        for event in &story {
            publish(&js, event).await;
        }
        lineaged.wait_applied(STORY_EVENTS).await;
        let before = lineaged.status_with_digest().await;
        let mut client = lineaged.client().await;
        let pages = ask_search_pages(&mut client).await;
        SEARCH_PAGES.set(pages).expect("asked once");
        (lineaged, client, before)
    });
    assert_eq!(before.applied_seq, STORY_EVENTS);
    assert_eq!(before.dead_lettered, 0);

    // Every RPC at once, a thread each, all on the one service.
    let handle = runtime.handle();
    let rpcs = every_rpc();
    let results: Vec<(&str, Result<Outcomes, String>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = rpcs
            .iter()
            .map(|(name, strategy)| {
                let client = &client;
                (
                    *name,
                    scope.spawn(move || fuzz_rpc(handle, client, *strategy)),
                )
            })
            .collect();
        threads
            .into_iter()
            .map(|(name, thread)| (name, thread.join().expect("a fuzzing thread ends")))
            .collect()
    });
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(name, result)| {
            result
                .as_ref()
                .err()
                .map(|error| format!("{name}: {error}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // The fuzzing reached both sides of every RPC: answers, and (but for
    // GetStatus, which has nothing to refuse) refusals.
    if cases() >= DEFAULT_CASES {
        for (name, result) in &results {
            let outcomes = result.as_ref().expect("checked above");
            assert!(
                outcomes.contains_key("Ok"),
                "{name} never answered: {outcomes:?}"
            );
            if *name != "GetStatus" {
                assert!(
                    outcomes.keys().any(|outcome| outcome != "Ok"),
                    "{name} never refused: {outcomes:?}"
                );
            }
        }
        // scorecard has no criteria to check against.
        let (_, promotion) = results
            .iter()
            .find(|(name, _)| *name == "CheckPromotion")
            .expect("fuzzed");
        let promotion = promotion.as_ref().expect("checked above");
        assert!(
            promotion.contains_key("FailedPrecondition"),
            "CheckPromotion never lacked stored criteria: {promotion:?}"
        );
    }

    // Still there, with the same graph, every watch gone, and it stops
    // cleanly.
    runtime.block_on(async {
        every_watch_slot_is_free(&client).await;
        let after = lineaged.status_with_digest().await;
        assert!(after.ready);
        assert_eq!(after.applied_seq, before.applied_seq);
        assert_eq!(after.state_digest, before.state_digest);
        assert_eq!(after.dead_lettered, 0);
        lineaged.stop().await;
    });
    drop(data);
    drop(nats);
}
