//! `SearchRuns`: runs matching a filter, ordered and paged, answered from
//! the graph's run index (`lineage_core::search`).
//!
//! The request is checked and parsed before any wait (a typo in a filter
//! is INVALID_ARGUMENT naming `filter` and the column, at once). A search
//! whose candidates fit the inline budget, with a small page of basic
//! runs, is answered on the runtime when the graph is free; the others
//! (and every `upstream of model` walk) on the blocking pool.

use lineage_core::filter::LineageBounds;
use lineage_core::search::{self, SearchQuery};
use lineage_proto::convert::{self, View};
use lineage_proto::v1;
use tonic::Request;

use super::{ApiError, INLINE_VISITS, LineageApi, SMALL_PAGE, grpc_timeout, list_view, workspace};
use crate::auth::{Role, caller};

pub(super) async fn search_runs(
    api: &LineageApi,
    request: Request<v1::SearchRunsRequest>,
) -> Result<v1::SearchRunsResponse, ApiError> {
    let deadline = grpc_timeout(request.metadata());
    let caller = caller(&request);
    let request = request.into_inner();
    let ws = workspace("workspace", &request.workspace)?;
    caller?.may(Role::Reader, [&ws])?;
    tracing::Span::current().record("workspace", ws.as_str());
    let page_size = match request.page_size {
        0 => api.config.default_page_size,
        size if size > api.config.max_page_size => {
            return Err(ApiError::invalid(
                "page_size",
                format!("{size} is above the limit of {}", api.config.max_page_size),
            ));
        }
        size => size,
    } as usize;
    let view = list_view("view", request.view)?;
    let query = SearchQuery::new(
        ws,
        &request.experiments,
        &request.filter,
        &request.order_by,
        page_size,
        &request.page_token,
    )
    .map_err(|error| ApiError::invalid(&error.field(), error.reason()))?
    // As CheckPromotion walks for the same term: a criterion and a search
    // term mean the same.
    .with_lineage_bounds(LineageBounds {
        max_depth: api.config.max_depth,
        max_visits: api.config.max_visits as usize,
    });
    api.caught_up(request.min_seq, deadline).await?;
    let small_page = view == View::Basic && page_size <= SMALL_PAGE;
    api.query_within(deadline, move |graph, budget| {
        let page = match budget {
            None => search::search_runs(graph, &query),
            // Tried inline only when both the candidates and the answer
            // are small; `None` hands the search to the blocking pool.
            Some(_) if !small_page => return None,
            Some(budget) => search::search_runs_within(graph, &query, budget.min(INLINE_VISITS))?,
        };
        if page.lineage_truncated {
            tracing::info!(
                filter = %request.filter,
                "an `upstream of model` walk reached its bounds: runs beyond them are not found"
            );
        }
        let present = graph.present();
        Some(Ok(v1::SearchRunsResponse {
            runs: page
                .runs
                .iter()
                .map(|&run| convert::entity_in_view(&present, run, view))
                .collect(),
            next_page_token: page.next_page_token,
            applied_seq: present.answered_seq(),
            candidates: page.candidates,
        }))
    })
    .await
}
