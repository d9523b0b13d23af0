//! `CheckPromotion`: a model version against criteria, given or stored.

use lineage_core::filter::{Filter, LineageBounds};
use lineage_core::promotion::check_promotion as check;
use lineage_core::{EntityKey, id};
use lineage_proto::convert;
use lineage_proto::v1;
use tonic::Request;

use super::{ApiError, Cost, LineageApi, checked, find, grpc_timeout, workspace};
use crate::auth::{Role, caller};

pub(super) async fn check_promotion(
    api: &LineageApi,
    request: Request<v1::CheckPromotionRequest>,
) -> Result<v1::PromotionCheck, ApiError> {
    let deadline = grpc_timeout(request.metadata());
    let caller = caller(&request);
    let request = request.into_inner();
    let ws = workspace("workspace", &request.workspace)?;
    caller?.may(Role::Reader, [&ws])?;
    tracing::Span::current().record("workspace", ws.as_str());
    checked("model", &request.model, id::check_name)?;
    checked("version", &request.version, id::check_version)?;
    // Criteria given are parsed before any wait: a typo is the caller's to
    // fix at once.
    let given = if request.criteria.trim().is_empty() {
        None
    } else {
        let criteria = Filter::parse_criteria(&request.criteria)
            .map_err(|error| ApiError::invalid("criteria", error.to_string()))?;
        Some((criteria, request.criteria.clone()))
    };
    api.caught_up(request.min_seq, deadline).await?;
    let key = EntityKey::model_version(&ws, &request.model, &request.version);
    let bounds = LineageBounds {
        max_depth: api.config.max_depth,
        max_visits: api.config.max_visits as usize,
    };
    api.query(deadline, Cost::Large, move |graph| {
        let view = &graph.present();
        let model_version = find(view, &key)?;
        let (criteria, text, criteria_event_id) = match given {
            Some((criteria, text)) => (criteria, text, String::new()),
            None => {
                let (stamp, stored) = view.promotion_criteria(&ws, &key.name).ok_or_else(|| {
                    ApiError::FailedPrecondition(format!(
                        "model {} has no promotion criteria (publish a PromotionCriteriaSet, \
                             or give criteria in the request)",
                        key.name
                    ))
                })?;
                let criteria = Filter::parse_criteria(&stored.criteria).map_err(|error| {
                    ApiError::Internal(format!(
                        "the stored criteria of model {} do not parse: {error}",
                        key.name
                    ))
                })?;
                (
                    criteria,
                    stored.criteria.clone(),
                    stamp.event_id.as_str().to_owned(),
                )
            }
        };
        let answer = check(view, model_version, &criteria, bounds);
        Ok(convert::promotion_check(
            view,
            &answer,
            &text,
            &criteria_event_id,
        ))
    })
    .await
}
