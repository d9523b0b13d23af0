//! `CompareRuns` and `GetMetricHistory`: runs side by side, and one
//! metric's points for a client to plot.

use std::collections::BTreeSet;

use lineage_core::compare::{compare_runs, lower_is_better_by_name};
use lineage_core::graph::Facts;
use lineage_core::{EntityKey, EventTime, id};
use lineage_proto::convert;
use lineage_proto::v1;
use tonic::Request;

use super::{ApiError, Cost, LineageApi, checked, find, grpc_timeout, workspace};
use crate::auth::{Role, caller};

/// The fewest and most runs one comparison holds: a table people read.
const MIN_COMPARED_RUNS: usize = 2;
const MAX_COMPARED_RUNS: usize = 16;

/// The most metric keys a request may name as better lower.
const MAX_LOWER_IS_BETTER: usize = 256;

/// Points per page of a metric's history, by default and at most.
const DEFAULT_POINTS_PAGE: usize = 1_000;
const MAX_POINTS_PAGE: usize = 10_000;

pub(super) async fn comparison(
    api: &LineageApi,
    request: Request<v1::CompareRunsRequest>,
) -> Result<v1::RunComparison, ApiError> {
    let deadline = grpc_timeout(request.metadata());
    let caller = caller(&request);
    let request = request.into_inner();
    let ws = workspace("workspace", &request.workspace)?;
    caller?.may(Role::Reader, [&ws])?;
    tracing::Span::current().record("workspace", ws.as_str());
    let count = request.run_ids.len();
    if !(MIN_COMPARED_RUNS..=MAX_COMPARED_RUNS).contains(&count) {
        return Err(ApiError::invalid(
            "run_ids",
            format!("{count} runs given; compare {MIN_COMPARED_RUNS} to {MAX_COMPARED_RUNS}"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (at, run_id) in request.run_ids.iter().enumerate() {
        checked(&format!("run_ids[{at}]"), run_id, id::check_name)?;
        if !seen.insert(run_id.as_str()) {
            return Err(ApiError::invalid(
                &format!("run_ids[{at}]"),
                format!("{run_id} is named twice"),
            ));
        }
    }
    if request.lower_is_better.len() > MAX_LOWER_IS_BETTER {
        return Err(ApiError::invalid(
            "lower_is_better",
            format!(
                "{} keys given, the limit is {MAX_LOWER_IS_BETTER}",
                request.lower_is_better.len()
            ),
        ));
    }
    for (at, key) in request.lower_is_better.iter().enumerate() {
        checked(&format!("lower_is_better[{at}]"), key, id::check_name)?;
    }
    api.caught_up(request.min_seq, deadline).await?;
    let keys: Vec<EntityKey> = request
        .run_ids
        .iter()
        .map(|run_id| EntityKey::run(&ws, run_id))
        .collect();
    let lower: BTreeSet<String> = request.lower_is_better.into_iter().collect();
    api.query(deadline, Cost::Large, move |graph| {
        let view = &graph.present();
        let runs = keys
            .iter()
            .map(|key| find(view, key))
            .collect::<Result<Vec<_>, _>>()?;
        let comparison = compare_runs(view, &runs, |key| {
            lower.contains(key) || lower_is_better_by_name(key)
        });
        Ok(convert::run_comparison(view, &comparison))
    })
    .await
}

pub(super) async fn metric_history(
    api: &LineageApi,
    request: Request<v1::GetMetricHistoryRequest>,
) -> Result<v1::MetricHistory, ApiError> {
    let deadline = grpc_timeout(request.metadata());
    let caller = caller(&request);
    let request = request.into_inner();
    let ws = workspace("workspace", &request.workspace)?;
    caller?.may(Role::Reader, [&ws])?;
    tracing::Span::current().record("workspace", ws.as_str());
    checked("run_id", &request.run_id, id::check_name)?;
    checked("key", &request.key, id::check_name)?;
    let page_size = match request.page_size as usize {
        0 => DEFAULT_POINTS_PAGE,
        size if size > MAX_POINTS_PAGE => {
            return Err(ApiError::invalid(
                "page_size",
                format!("{size} is above the limit of {MAX_POINTS_PAGE}"),
            ));
        }
        size => size,
    };
    let after = PointCursor::decode(&request.page_token)?;
    api.caught_up(request.min_seq, deadline).await?;
    let key = EntityKey::run(&ws, &request.run_id);
    let (run_id, metric) = (request.run_id, request.key);
    api.query(deadline, Cost::Large, move |graph| {
        let view = &graph.present();
        let node = view.node(find(view, &key)?);
        let series = match &node.facts {
            Facts::Run(run) => run.metric(&metric),
            _ => None,
        }
        .ok_or_else(|| ApiError::NotFound(format!("run {run_id} has no metric {metric}")))?;
        let mut points = series
            .points()
            .filter(|point| after.is_none_or(|after| after.precedes(point.step, point.timestamp)));
        let page: Vec<_> = points.by_ref().take(page_size).collect();
        let next_page_token = match (points.next(), page.last()) {
            (Some(_), Some(last)) => PointCursor {
                step: last.step,
                timestamp: last.timestamp,
            }
            .encode(),
            _ => String::new(),
        };
        Ok(v1::MetricHistory {
            points: page
                .iter()
                .map(|point| convert::metric_value(&metric, point))
                .collect(),
            run_id,
            key: metric,
            next_page_token,
            applied_seq: view.answered_seq(),
        })
    })
    .await
}

/// Where a page of a metric's history ended: its last point's place in
/// (step, timestamp) order, which no later point of the series can take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PointCursor {
    step: i64,
    timestamp: EventTime,
}

impl PointCursor {
    const PREFIX: &str = "points-after:";

    fn encode(self) -> String {
        hex::encode(format!(
            "{}{}:{}",
            Self::PREFIX,
            self.step,
            self.timestamp.unix_nanos()
        ))
    }

    fn decode(token: &str) -> Result<Option<Self>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || ApiError::invalid("page_token", "is not a token this service issued");
        let text = hex::decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(invalid)?;
        let (step, nanos) = text
            .strip_prefix(Self::PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(invalid)?;
        Ok(Some(Self {
            step: step.parse().map_err(|_| invalid())?,
            timestamp: EventTime::from_unix_nanos(nanos.parse().map_err(|_| invalid())?),
        }))
    }

    /// Whether a point comes after this cursor.
    fn precedes(self, step: i64, timestamp: EventTime) -> bool {
        (self.step, self.timestamp) < (step, timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_cursors_round_trip_and_reject_forgeries() {
        let cursor = PointCursor {
            step: -3,
            timestamp: EventTime::from_unix_nanos(1_700_000_000_000_000_000),
        };
        assert_eq!(
            PointCursor::decode(&cursor.encode()).expect("valid"),
            Some(cursor)
        );
        assert_eq!(PointCursor::decode("").expect("first page"), None);
        for forged in [
            "zz",
            &hex::encode("after:run-1"),
            &hex::encode("points-after:x:1"),
        ] {
            assert!(PointCursor::decode(forged).is_err(), "{forged}");
        }
        assert!(cursor.precedes(-3, EventTime::from_unix_nanos(1_700_000_000_000_000_001)));
        assert!(!cursor.precedes(-3, cursor.timestamp));
        assert!(cursor.precedes(0, EventTime::from_unix_nanos(0)));
    }
}
