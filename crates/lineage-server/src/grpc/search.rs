//! `SearchRuns`: runs matching a filter, ordered and paged.

use lineage_proto::v1;
use tonic::Request;

use super::{ApiError, LineageApi};

pub(super) async fn search_runs(
    _api: &LineageApi,
    _request: Request<v1::SearchRunsRequest>,
) -> Result<v1::SearchRunsResponse, ApiError> {
    Err(ApiError::Internal("SearchRuns".into()))
}
