//! `lineage promotion check|set-criteria`: a model version checked against
//! promotion criteria (exit 0 when it meets them, 1 when not), and a
//! model's criteria published as a `PromotionCriteriaSet` event through
//! the path `emit` uses.

use std::process::ExitCode;

use lineage_core::EntityKind;
use lineage_proto::v1;

use crate::client::{self, EXIT_FAILURE, UsageError};
use crate::{CheckArgs, Format, GlobalArgs, SetCriteriaArgs, emit, entity, render, write_stdout};

/// `promotion check`; see [`crate::PromotionCommand::Check`] for the exit
/// codes.
pub async fn check(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let (model, version) = entity::parse_model_spec(&args.model)?;
    if args
        .criteria
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(UsageError(
            "--criteria is empty; omit it to check the model's own criteria".to_owned(),
        )
        .into());
    }
    let mut grpc = global.connect().await?;
    let answer = grpc
        .check_promotion(v1::CheckPromotionRequest {
            workspace: workspace.as_str().to_owned(),
            model: model.clone(),
            version,
            criteria: args.criteria.clone().unwrap_or_default(),
            min_seq: global.min_seq,
        })
        .await;
    let answer = match answer {
        Ok(answer) => answer.into_inner(),
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition && args.criteria.is_none() =>
        {
            let error = anyhow::Error::new(status);
            eprintln!("error: {}", client::describe(&error));
            eprintln!(
                "set the model's criteria with `lineage promotion set-criteria {model} '<criteria>'`, or give --criteria"
            );
            return Ok(ExitCode::from(client::exit_code(&error)));
        }
        Err(status) => return Err(status.into()),
    };
    write_stdout(&match global.format {
        Format::Json => render::json(&serde_json::to_value(&answer)?)?,
        _ => render::promotion::check(&answer),
    })?;
    Ok(if answer.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// `promotion set-criteria`: builds the event, publishes it, and says
/// which event and stream sequence hold it.
pub async fn set_criteria(global: &GlobalArgs, args: &SetCriteriaArgs) -> anyhow::Result<ExitCode> {
    let workspace = entity::workspace(global.workspace.as_deref())?;
    let model = entity::parse_unversioned(EntityKind::ModelVersion, &args.model)?;
    if args.criteria.trim().is_empty() {
        return Err(UsageError("the criteria are empty".to_owned()).into());
    }
    let request = emit::CriteriaRequest {
        workspace: workspace.clone(),
        model: model.clone(),
        criteria: args.criteria.clone(),
        actor: args.actor.clone(),
        event_id: args.event_id.clone(),
    };
    let event = emit::criteria_event(&request, std::time::SystemTime::now());
    let what = format!("the promotion criteria of model {model}");
    let wait = args.wait.then_some(args.wait_timeout);
    let report = crate::publish_one(global, workspace, &event, what, wait).await?;
    match global.format {
        Format::Json => {
            let mut json = report.to_json();
            json["event_id"] = serde_json::Value::String(event.event_id.clone());
            write_stdout(&render::json(&json)?)?
        }
        _ => {
            let stored = report.last_stream_seq.map_or_else(
                || "not stored by the stream".to_owned(),
                |seq| format!("stream seq {seq}"),
            );
            write_stdout(&format!(
                "criteria of model {model}: event {} ({stored})\n{}\n",
                event.event_id,
                report.summary()
            ))?
        }
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}
