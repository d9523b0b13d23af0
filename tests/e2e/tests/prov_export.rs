//! `ExportProv` on the demo history, read back by a real PROV
//! implementation: the Python `prov` package (installed in
//! scripts/prov/.venv by scripts/prov/setup.sh, which scripts/test.sh runs)
//! parses each document, finds every relation's ends declared, and writes
//! back what it reads. The elements are exactly the subgraph Provenance or
//! Impact answers, every relation cites the log sequence and event behind
//! it, and the signature verifies under the service's key.

use std::path::{Path, PathBuf};

use async_nats::jetstream;
use ed25519_dalek::SigningKey;
use lineage_e2e::{Lineaged, NatsServer, entity, publish_demo_history};
use lineage_proto::prov;
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use lineage_proto::validate;
use tonic::transport::Channel;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the `prov` package read from a document (scripts/prov/read_prov.py).
fn read_with_python_prov(document: &str) -> serde_json::Value {
    let python = repository().join("scripts/prov/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/prov/setup.sh (scripts/test.sh does)",
        python.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("document.json");
    std::fs::write(&path, document).expect("write the document");
    let output = std::process::Command::new(python)
        .arg(repository().join("scripts/prov/read_prov.py"))
        .arg(&path)
        .output()
        .expect("run read_prov.py");
    assert!(
        output.status.success(),
        "the prov package could not read the document: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("read_prov.py prints JSON")
}

fn ids(summary: &serde_json::Value, kind: &str) -> Vec<String> {
    summary[kind]
        .as_array()
        .unwrap_or_else(|| panic!("{kind} in {summary}"))
        .iter()
        .map(|id| id.as_str().expect("an id").to_owned())
        .collect()
}

/// The PROV identifiers of a subgraph's nodes: (activities, entities).
fn expected_elements(subgraph: &v1::Subgraph) -> (Vec<String>, Vec<String>) {
    let (mut activities, mut entities) = (Vec::new(), Vec::new());
    for node in &subgraph.nodes {
        let key = validate::entity_key("node", node.r#ref.as_ref()).expect("a valid ref");
        let id = prov::qualified(&key);
        if key.kind
            == lineage_proto::validate::entity_kind("kind", v1::EntityKind::Run as i32)
                .expect("run")
        {
            activities.push(id);
        } else {
            entities.push(id);
        }
    }
    activities.sort();
    entities.sort();
    (activities, entities)
}

async fn export(
    client: &mut LineageServiceClient<Channel>,
    root: v1::EntityRef,
    direction: v1::ProvDirection,
) -> v1::ExportProvResponse {
    client
        .export_prov(v1::ExportProvRequest {
            root: Some(root),
            direction: direction as i32,
            ..Default::default()
        })
        .await
        .expect("ExportProv answers")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prov_exports_of_the_demo_history_read_back_with_the_prov_package() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let keys = tempfile::tempdir().expect("key dir");
    let key = SigningKey::from_bytes(&[9; 32]);
    let key_file = keys.path().join("signing.key");
    std::fs::write(&key_file, hex_of(&[9; 32])).expect("write the key");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.signing_key = Some(key_file.clone());
    })
    .await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let published = publish_demo_history(&js).await;
    lineaged.wait_applied(published).await;
    let mut client = lineaged.client().await;

    let model = entity(
        "credit-lender",
        v1::EntityKind::ModelVersion,
        "credit-risk",
        "7",
    );
    let dataset = entity(
        "credit-lender",
        v1::EntityKind::DatasetVersion,
        "applications",
        "3",
    );
    for (root, direction) in [
        (model.clone(), v1::ProvDirection::Upstream),
        (dataset.clone(), v1::ProvDirection::Downstream),
    ] {
        let exported = export(&mut client, root.clone(), direction).await;
        assert!(!exported.truncated);
        assert_eq!(exported.applied_seq, published);

        // The same subgraph as the traversal answers.
        let traversal = v1::TraversalRequest {
            root: Some(root.clone()),
            view: v1::EntityView::Full as i32,
            ..Default::default()
        };
        let subgraph = match direction {
            v1::ProvDirection::Downstream => client.impact(traversal).await,
            _ => client.provenance(traversal).await,
        }
        .expect("traversal")
        .into_inner();
        let (activities, entities) = expected_elements(&subgraph);
        assert!(!activities.is_empty() && !entities.is_empty());

        let summary = read_with_python_prov(&exported.document);
        assert_eq!(ids(&summary, "activity"), activities, "{direction:?}");
        assert_eq!(ids(&summary, "entity"), entities, "{direction:?}");
        assert_eq!(summary["dangling"], serde_json::json!([]), "{summary}");
        assert_eq!(summary["round_trip"], true, "{summary}");

        // One relation per edge, each citing its sequence and event; the
        // agents' relations cite the events that named them.
        let document: serde_json::Value = serde_json::from_str(&exported.document).expect("JSON");
        let mut edge_relations = 0;
        for relation in [
            "used",
            "wasGeneratedBy",
            "wasDerivedFrom",
            "wasInformedBy",
            "wasAssociatedWith",
            "wasAttributedTo",
        ] {
            let Some(records) = document.get(relation).and_then(|r| r.as_object()) else {
                continue;
            };
            for record in records.values() {
                assert!(
                    record["lineage:event_id"].is_string(),
                    "{relation} {record}"
                );
                if record.get("lineage:seq").is_some() {
                    let seq = record["lineage:seq"].as_u64().expect("a sequence");
                    assert!((1..=published).contains(&seq), "{record}");
                    edge_relations += 1;
                }
            }
        }
        assert_eq!(edge_relations, subgraph.edges.len(), "{direction:?}");
        let python_relations: u64 = summary["relations"]
            .as_object()
            .expect("relations")
            .values()
            .map(|count| count.as_u64().expect("a count"))
            .sum();
        let agent_relations = ["wasAssociatedWith", "wasAttributedTo"]
            .iter()
            .filter_map(|relation| document.get(*relation).and_then(|r| r.as_object()))
            .map(|records| records.len() as u64)
            .sum::<u64>();
        assert_eq!(
            python_relations,
            edge_relations as u64 + agent_relations,
            "{summary}"
        );

        // Signed over its exact bytes by the service's key.
        assert_eq!(exported.public_key, hex_of(key.verifying_key().as_bytes()));
        let signature: [u8; 64] =
            validate::hex_bytes("signature", &exported.signature).expect("a hex signature");
        key.verifying_key()
            .verify_strict(
                exported.document.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .expect("the signature verifies");
    }

    // The model version's approver is an agent it is attributed to.
    let registered = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(model.clone()),
            ..Default::default()
        })
        .await
        .expect("the model version")
        .into_inner();
    let Some(v1::entity::Details::ModelVersion(details)) = registered.details else {
        panic!("a model version: {registered:?}");
    };
    assert!(!details.approved_by.is_empty());
    let upstream = export(&mut client, model.clone(), v1::ProvDirection::Upstream).await;
    let summary = read_with_python_prov(&upstream.document);
    assert!(
        ids(&summary, "agent").contains(&prov::agent_id(&details.approved_by)),
        "{summary}"
    );

    // Bad requests are INVALID_ARGUMENT; an unknown root NOT_FOUND.
    let bad = client
        .export_prov(v1::ExportProvRequest {
            root: Some(model.clone()),
            direction: 7,
            ..Default::default()
        })
        .await
        .expect_err("an unknown direction");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let missing = client
        .export_prov(v1::ExportProvRequest {
            root: Some(entity(
                "credit-lender",
                v1::EntityKind::ModelVersion,
                "credit-risk",
                "999",
            )),
            ..Default::default()
        })
        .await
        .expect_err("no such model version");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    lineaged.stop().await;
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
