//! A lineage subgraph as W3C PROV-JSON (<https://www.w3.org/submissions/prov-json/>),
//! the form auditors' tools read.
//!
//! Runs are activities; dataset versions, artifacts, model versions,
//! environments, compute targets, endpoints and experiments are entities;
//! run owners, approvers and whoever flagged an entity are agents (a name
//! a redaction erased is no agent, and nothing is attributed to it). Edges
//! become PROV relations:
//!
//! | edge | relation |
//! |---|---|
//! | INPUT (x → run), RAN_IN, RAN_ON | `used` (run, x), with a role |
//! | PRODUCED, REGISTERED (run → x) | `wasGeneratedBy` (x, run) |
//! | DERIVED, PACKAGED, DEPLOYED (x → y) | `wasDerivedFrom` (y, x), typed |
//! | PARENT_OF (parent → child) | `wasInformedBy` (child, parent) |
//! | MEMBER_OF (run → experiment) | `wasInfluencedBy` (run, experiment) |
//!
//! Every element and relation cites its evidence: the log sequence at
//! which it appeared (`lineage:seq`) and the id of the event stored there
//! (`lineage:event_id`); facts decided by an event (a run's start, a
//! registration, an approval) cite that event's id. Identifiers are
//! `lineage:<workspace>/<kind>/<name>[/<version>]` and
//! `agent:<name>`, with characters outside `[A-Za-z0-9._/-]` percent-encoded.

use lineage_core::graph::{EdgeKind, Facts, Node};
use lineage_core::{AsOf, EntityKey, EntityKind, EventTime, Subgraph};
use serde_json::{Map, Value, json};

use crate::convert;

/// The namespace of entity and activity identifiers.
pub const LINEAGE_NAMESPACE: &str = "urn:lineage:";
/// The namespace of agent identifiers.
pub const AGENT_NAMESPACE: &str = "urn:lineage:agent:";

/// The PROV-JSON document of `answer`, as compact JSON text. `event_id`
/// names the event stored at a log sequence (`None` if the log cannot say).
pub fn document(
    graph: &AsOf<'_>,
    answer: &Subgraph,
    event_id: &dyn Fn(u64) -> Option<String>,
) -> String {
    document_value(graph, answer, event_id).to_string()
}

fn document_value(
    graph: &AsOf<'_>,
    answer: &Subgraph,
    event_id: &dyn Fn(u64) -> Option<String>,
) -> Value {
    let mut doc = Document::default();
    for &index in &answer.nodes {
        doc.node(&graph.node(index), event_id);
    }
    for &edge in &answer.edges {
        let (from, to, facts) = graph.edge(edge);
        let (from, to) = (qualified(graph.key(from)), qualified(graph.key(to)));
        let mut evidence = Map::new();
        cite(&mut evidence, facts.first_seq(), event_id);
        if let Some(retired) = facts.retired_seq() {
            evidence.insert("lineage:retired_seq".into(), json!(retired));
        }
        doc.relation(facts.kind(), &from, &to, evidence);
    }
    doc.finish()
}

/// Records by PROV type, each keyed by identifier.
#[derive(Default)]
struct Document {
    entity: Map<String, Value>,
    activity: Map<String, Value>,
    agent: Map<String, Value>,
    relations: Map<String, Value>,
    next_relation: usize,
}

impl Document {
    fn node(&mut self, node: &Node, event_id: &dyn Fn(u64) -> Option<String>) {
        let id = qualified(&node.key);
        let mut attributes = Map::new();
        attributes.insert("prov:label".into(), json!(node.key.to_string()));
        cite(&mut attributes, node.first_seq, event_id);
        if node.is_placeholder() {
            attributes.insert("lineage:placeholder".into(), json!(true));
        }
        for (flag_event, flag) in &node.flags {
            if flag.flagged_by.is_empty() {
                continue;
            }
            let agent = self.agent(&flag.flagged_by);
            self.add_relation(
                "wasAttributedTo",
                [("prov:entity", id.clone()), ("prov:agent", agent)],
                [
                    ("prov:role", json!("flagged")),
                    ("lineage:event_id", json!(flag_event.as_str())),
                    ("lineage:reason", json!(flag.reason)),
                ],
            );
        }
        match &node.facts {
            Facts::Run(run) => {
                if let Some(started) = &run.started {
                    attributes.insert("prov:startTime".into(), time(started.stamp.occurred_at));
                    attributes.insert(
                        "lineage:started_by_event".into(),
                        json!(started.stamp.event_id.as_str()),
                    );
                    let facts = &started.value;
                    if !facts.code_version.is_empty() {
                        attributes.insert("lineage:code_version".into(), json!(facts.code_version));
                    }
                    if !facts.owner.is_empty() {
                        let agent = self.agent(&facts.owner);
                        self.add_relation(
                            "wasAssociatedWith",
                            [("prov:activity", id.clone()), ("prov:agent", agent)],
                            [
                                ("prov:role", json!("owner")),
                                ("lineage:event_id", json!(started.stamp.event_id.as_str())),
                            ],
                        );
                    }
                }
                if let Some(finished) = &run.finished {
                    attributes.insert("prov:endTime".into(), time(finished.stamp.occurred_at));
                }
                if let Some(status) = run.status() {
                    attributes.insert(
                        "lineage:status".into(),
                        json!(convert::run_status(status).as_str_name()),
                    );
                }
                self.activity.insert(id, Value::Object(attributes));
                return;
            }
            Facts::DatasetVersion(Some(registered)) => {
                describe(
                    &mut attributes,
                    &registered.value.uri,
                    &registered.value.digest,
                );
            }
            Facts::Artifact(Some(logged)) => {
                describe(&mut attributes, &logged.value.uri, &logged.value.digest);
            }
            Facts::ModelVersion(model) => {
                if let Some(stage) = model.stage() {
                    attributes.insert(
                        "lineage:stage".into(),
                        json!(convert::model_stage(stage).as_str_name()),
                    );
                }
                let approvals = model
                    .registered
                    .iter()
                    .map(|r| (&r.value.approved_by, &r.stamp.event_id, "approver"))
                    .chain(model.stage_changes.iter().map(|(stamp, change)| {
                        (&change.approved_by, &stamp.event_id, "stage approver")
                    }));
                for (approver, event, role) in approvals {
                    if approver.is_empty() {
                        continue;
                    }
                    let agent = self.agent(approver);
                    self.add_relation(
                        "wasAttributedTo",
                        [("prov:entity", id.clone()), ("prov:agent", agent)],
                        [
                            ("prov:role", json!(role)),
                            ("lineage:event_id", json!(event.as_str())),
                        ],
                    );
                }
            }
            Facts::Endpoint(Some(current)) => {
                attributes.insert("lineage:deployment".into(), json!(current.value.deployment));
            }
            _ => {}
        }
        attributes.insert(
            "prov:type".into(),
            json!({ "$": format!("lineage:{}", kind_name(node.key.kind)), "type": "prov:QUALIFIED_NAME" }),
        );
        self.entity.insert(id, Value::Object(attributes));
    }

    /// The agent named `name`, declared on first use.
    fn agent(&mut self, name: &str) -> String {
        let id = agent_id(name);
        self.agent
            .entry(id.clone())
            .or_insert_with(|| json!({ "prov:label": name }));
        id
    }

    fn relation(&mut self, kind: EdgeKind, from: &str, to: &str, evidence: Map<String, Value>) {
        let mapping = relation_of(kind);
        let mut attributes = evidence;
        attributes.insert(mapping.to_role.into(), json!(to));
        attributes.insert(mapping.from_role.into(), json!(from));
        match mapping.extra {
            Some(Extra::Role(role)) => {
                attributes.insert("prov:role".into(), json!(role));
            }
            Some(Extra::Type(name)) => {
                attributes.insert(
                    "prov:type".into(),
                    json!({ "$": name, "type": "prov:QUALIFIED_NAME" }),
                );
            }
            None => {}
        }
        self.insert_relation(mapping.name, attributes);
    }

    fn add_relation<const E: usize, const A: usize>(
        &mut self,
        relation: &str,
        ends: [(&str, String); E],
        attributes: [(&str, Value); A],
    ) {
        let mut record = Map::new();
        for (key, end) in ends {
            record.insert(key.into(), json!(end));
        }
        for (key, value) in attributes {
            record.insert(key.into(), value);
        }
        self.insert_relation(relation, record);
    }

    fn insert_relation(&mut self, relation: &str, record: Map<String, Value>) {
        self.next_relation += 1;
        let id = format!("_:r{}", self.next_relation);
        let records = self
            .relations
            .entry(relation.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(records) = records {
            records.insert(id, Value::Object(record));
        }
    }

    fn finish(self) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "prefix".into(),
            json!({ "lineage": LINEAGE_NAMESPACE, "agent": AGENT_NAMESPACE }),
        );
        for (name, records) in [
            ("entity", self.entity),
            ("activity", self.activity),
            ("agent", self.agent),
        ] {
            if !records.is_empty() {
                doc.insert(name.into(), Value::Object(records));
            }
        }
        doc.extend(self.relations);
        Value::Object(doc)
    }
}

/// How an edge (from → to) becomes a PROV relation.
struct RelationOf {
    name: &'static str,
    /// The attributes naming the edge's ends.
    to_role: &'static str,
    from_role: &'static str,
    extra: Option<Extra>,
}

enum Extra {
    Role(&'static str),
    Type(&'static str),
}

fn relation_of(kind: EdgeKind) -> RelationOf {
    let relation = |name, to_role, from_role, extra| RelationOf {
        name,
        to_role,
        from_role,
        extra,
    };
    let used = |role| {
        relation(
            "used",
            "prov:activity",
            "prov:entity",
            Some(Extra::Role(role)),
        )
    };
    let derived = |extra| {
        relation(
            "wasDerivedFrom",
            "prov:generatedEntity",
            "prov:usedEntity",
            extra,
        )
    };
    match kind {
        EdgeKind::Input => used("input"),
        EdgeKind::RanIn => used("environment"),
        EdgeKind::RanOn => used("compute"),
        EdgeKind::Produced | EdgeKind::Registered => {
            relation("wasGeneratedBy", "prov:entity", "prov:activity", None)
        }
        EdgeKind::Derived => derived(None),
        EdgeKind::Packaged => derived(Some(Extra::Type("lineage:Packaging"))),
        EdgeKind::Deployed => derived(Some(Extra::Type("lineage:Deployment"))),
        EdgeKind::ParentOf => relation("wasInformedBy", "prov:informed", "prov:informant", None),
        EdgeKind::MemberOf => relation(
            "wasInfluencedBy",
            "prov:influencer",
            "prov:influencee",
            Some(Extra::Type("lineage:Membership")),
        ),
    }
}

/// `lineage:seq` and, where the log names it, `lineage:event_id`.
fn cite(attributes: &mut Map<String, Value>, seq: u64, event_id: &dyn Fn(u64) -> Option<String>) {
    attributes.insert("lineage:seq".into(), json!(seq));
    if let Some(id) = event_id(seq) {
        attributes.insert("lineage:event_id".into(), json!(id));
    }
}

fn describe(attributes: &mut Map<String, Value>, uri: &str, digest: &str) {
    if !uri.is_empty() {
        attributes.insert("prov:location".into(), json!(uri));
    }
    if !digest.is_empty() {
        attributes.insert("lineage:digest".into(), json!(digest));
    }
}

/// An `xsd:dateTime` as PROV-JSON writes it.
fn time(at: EventTime) -> Value {
    serde_json::to_value(convert::timestamp(at)).unwrap_or(Value::Null)
}

fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Experiment => "Experiment",
        EntityKind::Run => "Run",
        EntityKind::DatasetVersion => "DatasetVersion",
        EntityKind::Artifact => "Artifact",
        EntityKind::ModelVersion => "ModelVersion",
        EntityKind::Environment => "Environment",
        EntityKind::Compute => "Compute",
        EntityKind::Endpoint => "Endpoint",
    }
}

/// `agent:<name>`.
pub fn agent_id(name: &str) -> String {
    format!("agent:{}", escape(name))
}

/// `lineage:<workspace>/<kind>/<name>[/<version>]`.
pub fn qualified(key: &EntityKey) -> String {
    let mut id = format!(
        "lineage:{}/{}/{}",
        escape(key.workspace.as_str()),
        key.kind.short_name(),
        escape(&key.name)
    );
    if !key.version.is_empty() {
        id.push('/');
        id.push_str(&escape(&key.version));
    }
    id
}

/// Percent-encodes what a PROV qualified name's local part may not hold.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b'/') {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_keep_only_safe_characters() {
        assert_eq!(
            escape("amara.osei@credit.example"),
            "amara.osei%40credit.example"
        );
        assert_eq!(escape("a b:c"), "a%20b%3Ac");
        assert_eq!(escape("trial-1/model.pkl"), "trial-1/model.pkl");
    }

    #[test]
    fn an_erased_name_is_no_agent() {
        use crate::validate::{Encoding, decode_event, validate_event};
        let lines = [
            r#"{"event_id":"s1","workspace":"w","occurred_at":"2026-01-01T00:00:00Z","actor":"alice@example.com","run_started":{"run_id":"r1"}}"#,
            r#"{"event_id":"m1","workspace":"w","occurred_at":"2026-01-01T00:01:00Z","actor":"alice@example.com","model_registered":{"model":"m","version":"1","source_run_id":"r1","approved_by":"alice@example.com"}}"#,
            r#"{"event_id":"f1","workspace":"w","occurred_at":"2026-01-01T00:02:00Z","actor":"alice@example.com","entity_flagged":{"entity":{"kind":"RUN","name":"r1"},"reason":"bad","severity":"HIGH"}}"#,
            r#"{"event_id":"x1","workspace":"w","occurred_at":"2026-01-02T00:00:00Z","actor":"dpo","redaction_requested":{"entity":{"kind":"RUN","name":"r1"},"fields":["actor"],"reason":"DSR-1"}}"#,
            r#"{"event_id":"x2","workspace":"w","occurred_at":"2026-01-02T00:00:00Z","actor":"dpo","redaction_requested":{"entity":{"kind":"MODEL_VERSION","name":"m","version":"1"},"fields":["approved_by"],"reason":"DSR-1"}}"#,
        ];
        let mut graph = lineage_core::LineageGraph::new();
        let mut documents = Vec::new();
        for (seq, line) in (1u64..).zip(lines) {
            let event = decode_event(line.as_bytes(), Encoding::Json).expect("decodes");
            graph.apply(seq, &validate_event(&event).expect("valid"));
            let answer = Subgraph {
                nodes: graph.nodes().map(|(index, _)| index).collect(),
                ..Default::default()
            };
            documents.push(document_value(&graph.present(), &answer, &|_| None));
        }
        let agents = |doc: &Value| doc["agent"].as_object().map_or(0, Map::len);
        assert_eq!(agents(&documents[2]), 1, "{}", documents[2]);
        assert!(documents[2].to_string().contains("alice@example.com"));
        let erased = &documents[4];
        assert_eq!(agents(erased), 0, "{erased}");
        assert!(!erased.to_string().contains("alice"), "{erased}");
        assert!(erased.get("wasAttributedTo").is_none(), "{erased}");
        assert!(erased.get("wasAssociatedWith").is_none(), "{erased}");

        // Looking back to before the redactions does not bring the name back.
        let before = graph.as_of(lineage_core::Cut::Logged(3));
        let answer = Subgraph {
            nodes: graph
                .nodes()
                .map(|(index, _)| index)
                .filter(|&index| before.contains(index))
                .collect(),
            ..Default::default()
        };
        let past = document_value(&before, &answer, &|_| None);
        assert_eq!(agents(&past), 0, "{past}");
        assert!(!past.to_string().contains("alice"), "{past}");
        assert!(past["activity"].get("lineage:w/run/r1").is_some(), "{past}");
    }
}
