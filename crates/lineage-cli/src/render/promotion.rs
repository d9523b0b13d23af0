//! Text for `promotion check`: the verdict first (PASS or FAIL and the
//! model version), the criteria and where they come from, then each
//! criterion with its explanation and the evidence it rests on.

use std::fmt::{self, Write};

use lineage_proto::v1;

use crate::entity::display_ref;

/// The whole check; see the module docs.
pub fn check(answer: &v1::PromotionCheck) -> String {
    let mut out = String::new();
    write_check(&mut out, answer).expect("writing to a String cannot fail");
    out
}

fn write_check(out: &mut String, answer: &v1::PromotionCheck) -> fmt::Result {
    let model = answer.model.as_ref().map_or_else(
        || "model:?".to_owned(),
        |model| format!("model:{}@{}", model.model, model.version),
    );
    let verdict = if answer.passed { "PASS" } else { "FAIL" };
    write!(out, "{verdict}  {model}")?;
    if !answer.source_run_id.is_empty() {
        write!(out, "  (source run:{})", answer.source_run_id)?;
    }
    writeln!(out)?;
    let source = if answer.criteria_event_id.is_empty() {
        "given with --criteria".to_owned()
    } else {
        format!("the model's, set by event {}", answer.criteria_event_id)
    };
    writeln!(out, "criteria: {}  ({source})", answer.criteria)?;
    writeln!(out)?;
    for result in &answer.results {
        let mark = if result.passed {
            "✔ PASS"
        } else {
            "✘ FAIL"
        };
        writeln!(out, "{mark}  {}", result.criterion)?;
        if !result.explanation.is_empty() {
            writeln!(out, "        {}", result.explanation)?;
        }
        for evidence in &result.evidence {
            writeln!(out, "        evidence: {}", evidence_line(evidence))?;
        }
    }
    if answer.truncated {
        writeln!(
            out,
            "(a bound cut the upstream walk of `no flagged upstream`: a flag further up may be missed)"
        )?;
    }
    writeln!(
        out,
        "{} of {} criteria met, as of log seq {}",
        answer.results.iter().filter(|result| result.passed).count(),
        answer.results.len(),
        answer.applied_seq
    )
}

/// `run:r-2  metrics.precision = 0.93  (event m-40, log seq 120)`.
fn evidence_line(evidence: &v1::Evidence) -> String {
    let mut line = evidence
        .entity
        .as_ref()
        .map_or_else(String::new, display_ref);
    if !evidence.field.is_empty() {
        let _ = write!(line, "  {} = {}", evidence.field, evidence.value);
    }
    let mut source = Vec::new();
    if !evidence.event_id.is_empty() {
        source.push(format!("event {}", evidence.event_id));
    }
    if evidence.seq > 0 {
        source.push(format!("log seq {}", evidence.seq));
    }
    if !source.is_empty() {
        let _ = write!(line, "  ({})", source.join(", "));
    }
    line.trim_start().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    #[test]
    fn a_failed_check_says_which_criterion_failed_and_why() {
        let answer = v1::PromotionCheck {
            model: Some(v1::ModelVersionRef {
                model: "credit-risk".to_owned(),
                version: "7".to_owned(),
            }),
            source_run_id: "cr-sweep-0706-t08".to_owned(),
            criteria: "metrics.precision >= 0.9 and no flagged upstream".to_owned(),
            criteria_event_id: "criteria-1".to_owned(),
            passed: false,
            results: vec![
                v1::CriterionResult {
                    criterion: "metrics.precision >= 0.9".to_owned(),
                    passed: true,
                    explanation: "metrics.precision is 0.93 (step 40), >= 0.9".to_owned(),
                    evidence: vec![v1::Evidence {
                        entity: Some(fixtures::run()),
                        field: "metrics.precision".to_owned(),
                        value: "0.93".to_owned(),
                        event_id: "m-40".to_owned(),
                        seq: 120,
                    }],
                },
                v1::CriterionResult {
                    criterion: "no flagged upstream".to_owned(),
                    passed: false,
                    explanation: "dataset:applications@3 is flagged".to_owned(),
                    evidence: vec![v1::Evidence {
                        entity: Some(fixtures::applications()),
                        field: "flag".to_owned(),
                        value: "label leakage".to_owned(),
                        event_id: "f-1".to_owned(),
                        seq: 130,
                    }],
                },
            ],
            truncated: true,
            applied_seq: 140,
        };
        assert_eq!(
            check(&answer),
            "\
FAIL  model:credit-risk@7  (source run:cr-sweep-0706-t08)
criteria: metrics.precision >= 0.9 and no flagged upstream  (the model's, set by event criteria-1)

✔ PASS  metrics.precision >= 0.9
        metrics.precision is 0.93 (step 40), >= 0.9
        evidence: run:cr-sweep-0706-t08  metrics.precision = 0.93  (event m-40, log seq 120)
✘ FAIL  no flagged upstream
        dataset:applications@3 is flagged
        evidence: dataset:applications@3  flag = label leakage  (event f-1, log seq 130)
(a bound cut the upstream walk of `no flagged upstream`: a flag further up may be missed)
1 of 2 criteria met, as of log seq 140
"
        );
    }

    #[test]
    fn given_criteria_say_so() {
        let answer = v1::PromotionCheck {
            model: Some(v1::ModelVersionRef {
                model: "fraud".to_owned(),
                version: "12".to_owned(),
            }),
            criteria: "approved".to_owned(),
            passed: true,
            results: vec![v1::CriterionResult {
                criterion: "approved".to_owned(),
                passed: true,
                ..Default::default()
            }],
            applied_seq: 5,
            ..Default::default()
        };
        assert_eq!(
            check(&answer),
            "\
PASS  model:fraud@12
criteria: approved  (given with --criteria)

✔ PASS  approved
1 of 1 criteria met, as of log seq 5
"
        );
    }
}
