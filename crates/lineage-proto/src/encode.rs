//! Answers written straight from the graph into protobuf bytes: entities
//! (GetEntity), subgraphs (Provenance, Impact), pages of runs
//! (RunsUsingDataset) and model traces.
//!
//! Building the prost structs of a page of a hundred basic runs and then
//! encoding them took ~48 µs at 100 k events, against 0.8 µs for the domain
//! answer (BENCHMARKS.md, "Answers written from the graph"): every string
//! cloned into its own allocation, structs of twenty fields moved into
//! vectors, nested lengths computed at every level. Here an answer is one
//! pass and one growing buffer. The service answers these RPCs with
//! [`Encoded`] messages (the generated server in [`crate::server`] names
//! them in place of the prost structs), which are sent as they are.
//!
//! The bytes are exactly what [`crate::convert`] builds, encoded by prost:
//! the tests decode every kind of entity, edge, subgraph, page and trace
//! written here and compare it with [`crate::convert`]'s message, and the
//! bytes with prost's. [`crate::convert`] stays the reference, and still
//! builds what is rare and small in an answer (flags, redactions,
//! deployments, an endpoint's details), which this module encodes with
//! prost inside the hand-written bytes.

use std::fmt;
use std::marker::PhantomData;

use lineage_core::AsOf;
use lineage_core::graph::{DeploymentFacts, EdgeKind, Facts, Lww, Node, RunFacts};
use lineage_core::{EdgeIndex, EntityKey, EntityKind, EventTime, ModelTrace, NodeIndex, Subgraph};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    DecodeContext, WireType, bytes, decode_varint, encode_key, encode_varint, encoded_len_varint,
    fixed32, fixed64, skip_field,
};
use prost::{DecodeError, Message};

use crate::convert::{self, EdgeForm, View};
use crate::v1;

/// A subgraph answer (Provenance, Impact), already encoded.
pub type EncodedSubgraph = Encoded<v1::Subgraph>;
/// A page of RunsUsingDataset, already encoded.
pub type EncodedRunsPage = Encoded<v1::RunsUsingDatasetResponse>;
/// A GetEntity answer, already encoded.
pub type EncodedEntity = Encoded<v1::Entity>;
/// A TraceModel answer, already encoded.
pub type EncodedModelTrace = Encoded<v1::ModelTrace>;

/// The protobuf encoding of a message of type `M`, held as bytes.
///
/// It is a [`Message`] itself, whose encoding is the bytes as they are, so
/// a tonic service can answer with it where it would answer with `M`.
/// Decoding one keeps every field as it came (a client that only counts or
/// forwards answers need not build `M`); [`Encoded::to_message`] builds
/// `M`.
pub struct Encoded<M> {
    bytes: Vec<u8>,
    message: PhantomData<fn() -> M>,
}

impl<M> Encoded<M> {
    fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            message: PhantomData,
        }
    }

    /// The message's encoding, without a length delimiter.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message's encoding, without a length delimiter.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Builds the message these bytes encode.
    pub fn to_message(&self) -> Result<M, DecodeError>
    where
        M: Message + Default,
    {
        M::decode(self.bytes.as_slice())
    }
}

impl<M> Default for Encoded<M> {
    fn default() -> Self {
        Self::from_bytes(Vec::new())
    }
}

impl<M> fmt::Debug for Encoded<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Encoded<{}>({} bytes)",
            std::any::type_name::<M>(),
            self.bytes.len()
        )
    }
}

impl<M> Message for Encoded<M> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let chunk = buf.chunk();
        if chunk.len() == buf.remaining() {
            // Contiguous (a slice, tonic's decode buffer): prost checks the
            // field's extent, and it is kept as it came.
            let mut rest = chunk;
            skip_field(wire_type, tag, &mut rest, ctx)?;
            let field_len = chunk.len() - rest.len();
            encode_key(tag, wire_type, &mut self.bytes);
            self.bytes.extend_from_slice(&chunk[..field_len]);
            buf.advance(field_len);
            return Ok(());
        }
        match wire_type {
            WireType::Varint => {
                let value = decode_varint(buf)?;
                encode_key(tag, wire_type, &mut self.bytes);
                encode_varint(value, &mut self.bytes);
            }
            WireType::SixtyFourBit => {
                let mut value = 0;
                fixed64::merge(wire_type, &mut value, buf, ctx)?;
                encode_key(tag, wire_type, &mut self.bytes);
                self.bytes.put_u64_le(value);
            }
            WireType::ThirtyTwoBit => {
                let mut value = 0;
                fixed32::merge(wire_type, &mut value, buf, ctx)?;
                encode_key(tag, wire_type, &mut self.bytes);
                self.bytes.put_u32_le(value);
            }
            WireType::LengthDelimited => {
                let mut payload: Vec<u8> = Vec::new();
                bytes::merge(wire_type, &mut payload, buf, ctx)?;
                encode_key(tag, wire_type, &mut self.bytes);
                encode_varint(payload.len() as u64, &mut self.bytes);
                self.bytes.extend_from_slice(&payload);
            }
            // lineage.v1 is proto3, which has no groups: dropped, as prost
            // drops a field it does not know.
            WireType::StartGroup | WireType::EndGroup => skip_field(wire_type, tag, buf, ctx)?,
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
    }
}

/// A subgraph answer with its nodes in the given view: the bytes of
/// [`convert::subgraph`].
pub fn subgraph(
    graph: &AsOf<'_>,
    answer: &Subgraph,
    view: View,
    form: EdgeForm,
) -> EncodedSubgraph {
    let mut w = Writer::with_capacity(answer.nodes.len() * 128 + answer.edges.len() * 96);
    subgraph_fields(&mut w, graph, answer, view, form);
    Encoded::from_bytes(w.buf)
}

/// A page of runs in the given view, and the token of the next page (empty
/// on the last): the bytes of the `RunsUsingDatasetResponse` built from
/// [`convert::entity_in_view`].
pub fn runs_page(
    graph: &AsOf<'_>,
    runs: &[NodeIndex],
    view: View,
    next_page_token: &str,
) -> EncodedRunsPage {
    let mut w = Writer::with_capacity(runs.len() * 128 + next_page_token.len() + 8);
    for &run in runs {
        entity_field(&mut w, 1, graph, run, view);
    }
    w.string(2, next_page_token);
    w.uint64(3, graph.answered_seq());
    Encoded::from_bytes(w.buf)
}

/// A model trace: the bytes of [`convert::model_trace`].
pub fn model_trace(
    graph: &AsOf<'_>,
    trace: &ModelTrace,
    view: View,
    form: EdgeForm,
) -> EncodedModelTrace {
    let entities = trace.inputs.len() + trace.upstream.nodes.len() + 4;
    let mut w = Writer::with_capacity(entities * 128 + trace.upstream.edges.len() * 96);
    entity_field(&mut w, 1, graph, trace.model, View::Full);
    if let Some(run) = trace.source_run {
        entity_field(&mut w, 2, graph, run, View::Full);
    }
    for &input in &trace.inputs {
        entity_field(&mut w, 3, graph, input, view);
    }
    if let Some(environment) = trace.environment {
        entity_field(&mut w, 4, graph, environment, view);
    }
    if let Some(compute) = trace.compute {
        entity_field(&mut w, 5, graph, compute, view);
    }
    w.message(6, |w| {
        subgraph_fields(w, graph, &trace.upstream, view, form)
    });
    w.uint64(7, graph.answered_seq());
    Encoded::from_bytes(w.buf)
}

fn subgraph_fields(
    w: &mut Writer,
    graph: &AsOf<'_>,
    answer: &Subgraph,
    view: View,
    form: EdgeForm,
) {
    for &node in &answer.nodes {
        entity_field(w, 1, graph, node, view);
    }
    for (&edge, &ends) in answer.edges.iter().zip(&answer.edge_ends) {
        w.message(2, |w| edge_fields(w, graph, edge, ends, form));
    }
    w.bool(3, answer.truncated);
    w.uint64(4, graph.answered_seq());
}

/// One entity in the full view (GetEntity): the bytes of
/// [`convert::entity_answer`].
pub fn entity(graph: &AsOf<'_>, index: NodeIndex) -> EncodedEntity {
    let mut w = Writer::with_capacity(1024);
    // A past view copies the node it resolves: once per entity written.
    let node = graph.node(index);
    full_entity_fields(&mut w, graph, index, &node);
    w.uint64(16, graph.answered_seq());
    redactions(&mut w, &node);
    Encoded::from_bytes(w.buf)
}

/// One entity as field `field` of the enclosing message.
fn entity_field(w: &mut Writer, field: u32, graph: &AsOf<'_>, index: NodeIndex, view: View) {
    let node = graph.node(index);
    let node: &Node = &node;
    // Field 16 (applied_seq) is 0 inside other answers, so not written.
    match view {
        View::Basic => w.message(field, |w| {
            basic_entity_fields(w, graph, index, node);
            redactions(w, node);
        }),
        View::Full => w.message(field, |w| {
            full_entity_fields(w, graph, index, node);
            redactions(w, node);
        }),
    }
}

/// An entity's redactions (field 17, after applied_seq), in both views.
fn redactions(w: &mut Writer, node: &Node) {
    // Almost every entity has none: nothing to build.
    if node.redactions().is_empty() {
        return;
    }
    for redaction in convert::redactions(node) {
        w.prost(17, &redaction);
    }
}

/// The fields of [`convert::entity`] up to its details, in its field order.
fn full_entity_fields(w: &mut Writer, graph: &AsOf<'_>, index: NodeIndex, node: &Node) {
    w.message(1, |w| entity_ref_fields(w, &node.key));
    w.bool(2, node.is_placeholder());
    w.uint64(3, node.first_seq);
    for (key, value) in node.tags.iter() {
        w.string_pair(4, key, &value.value);
    }
    for flag in convert::flags(node) {
        w.prost(5, &flag);
    }
    match &node.facts {
        Facts::Experiment(created) => w.message(10, |w| {
            if let Some(created) = created {
                w.string(1, &created.value.description);
                w.timestamp(2, created.stamp.occurred_at);
            }
            w.uint64(3, graph.incoming(index, EdgeKind::MemberOf).count() as u64);
        }),
        Facts::Run(run) => w.message(11, |w| run_details_fields(w, graph, index, run)),
        Facts::DatasetVersion(registered) => w.message(12, |w| {
            if let Some(registered) = registered {
                let facts = &registered.value;
                w.string(1, &facts.uri);
                w.string(2, &facts.digest);
                w.string(3, facts.produced_by_run_id.as_deref().unwrap_or_default());
                for parent in &facts.derived_from {
                    w.string_pair(4, &parent.dataset, &parent.version);
                }
                w.timestamp(5, registered.stamp.occurred_at);
            }
        }),
        Facts::Artifact(logged) => w.message(13, |w| {
            let (run_id, name) = node.key.artifact_parts().unwrap_or_default();
            w.string(1, run_id);
            w.string(2, name);
            if let Some(logged) = logged {
                let facts = &logged.value;
                w.string(3, &facts.uri);
                w.string(4, &facts.digest);
                w.string(5, &facts.kind);
                w.uint64(6, facts.size_bytes);
                w.timestamp(7, logged.stamp.occurred_at);
            }
        }),
        Facts::ModelVersion(model) => w.message(14, |w| {
            if let Some(registered) = &model.registered {
                let facts = &registered.value;
                w.string(1, &facts.source_run_id);
                w.string(2, facts.artifact_name.as_deref().unwrap_or_default());
                w.string(3, &facts.approval_notes);
                w.string(4, &facts.approved_by);
                w.timestamp(5, registered.stamp.occurred_at);
            }
            let stage = model
                .stage()
                .map_or(v1::ModelStage::Unspecified, convert::model_stage);
            w.enumeration(6, stage as i32);
            let changes = model.stage_changes.iter();
            let skipped = changes.len().saturating_sub(convert::MAX_ENTITY_LIST);
            for (stamp, change) in changes.skip(skipped) {
                w.message(7, |w| {
                    w.enumeration(1, convert::model_stage(change.stage) as i32);
                    w.string(2, &change.reason);
                    w.string(3, &change.approved_by);
                    w.timestamp(4, stamp.occurred_at);
                    w.string(5, stamp.event_id.as_str());
                });
            }
            deployments(w, graph, index);
            promotion(w, graph, index);
        }),
        Facts::Endpoint(current) => endpoint_details(w, current.as_deref()),
        Facts::Environment | Facts::Compute => {}
    }
}

/// The fields of `convert::run_details`, in its field order.
fn run_details_fields(w: &mut Writer, graph: &AsOf<'_>, index: NodeIndex, run: &RunFacts) {
    let started = run
        .started
        .as_ref()
        .map(|s| (&s.value, s.stamp.occurred_at));
    let finished = run.finished.as_ref();
    if let Some((facts, _)) = started {
        w.string(1, facts.experiment.as_deref().unwrap_or_default());
        w.string(2, &facts.name);
        w.string(3, facts.parent_run_id.as_deref().unwrap_or_default());
    }
    let status = run
        .status()
        .map_or(v1::RunStatus::Unspecified, convert::run_status);
    w.enumeration(4, status as i32);
    if let Some(finished) = finished {
        w.string(5, &finished.value.error);
    }
    if let Some((facts, started_at)) = started {
        w.string(6, &facts.owner);
        w.timestamp(7, started_at);
    }
    if let Some(finished) = finished {
        w.timestamp(8, finished.stamp.occurred_at);
    }
    if let Some((facts, _)) = started {
        w.string(9, &facts.code_version);
        if let Some(environment) = &facts.environment {
            w.string_pair(10, &environment.name, &environment.version);
        }
        w.string(11, facts.compute_target.as_deref().unwrap_or_default());
    }
    for (key, value) in run.params.iter() {
        w.string_pair(12, key, &value.value);
    }
    for (key, step, time, value) in run.latest_metrics() {
        w.message(13, |w| {
            w.string(1, key);
            w.double(2, value);
            w.int64(3, step);
            w.timestamp(4, time);
        });
    }
    let mut truncated = false;
    let inputs = convert::bounded(
        graph
            .incoming(index, EdgeKind::Input)
            .map(|(_, input)| graph.key(input)),
        &mut truncated,
    );
    let outputs = convert::bounded(
        graph
            .outgoing(index, EdgeKind::Produced)
            .map(|(_, output)| graph.key(output)),
        &mut truncated,
    );
    let mut input_datasets: Vec<&EntityKey> = inputs
        .iter()
        .copied()
        .filter(|key| key.kind == EntityKind::DatasetVersion)
        .collect();
    input_datasets.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    for key in input_datasets {
        w.string_pair(14, &key.name, &key.version);
    }
    for key in inputs.iter().filter(|key| key.kind == EntityKind::Artifact) {
        let (run_id, name) = key.artifact_parts().unwrap_or_default();
        w.string_pair(15, run_id, name);
    }
    for key in inputs
        .iter()
        .filter(|key| key.kind == EntityKind::ModelVersion)
    {
        w.string_pair(16, &key.name, &key.version);
    }
    let mut artifacts: Vec<&str> = outputs
        .iter()
        .filter(|key| key.kind == EntityKind::Artifact)
        .map(|key| key.artifact_parts().unwrap_or_default().1)
        .collect();
    artifacts.sort_unstable();
    for name in artifacts {
        w.repeated_string(17, name);
    }
    for key in outputs
        .iter()
        .filter(|key| key.kind == EntityKind::DatasetVersion)
    {
        w.string_pair(18, &key.name, &key.version);
    }
    w.bool(19, truncated);
}

/// The fields of `convert::basic_entity` up to its details, in its field
/// order.
fn basic_entity_fields(w: &mut Writer, graph: &AsOf<'_>, index: NodeIndex, node: &Node) {
    w.message(1, |w| entity_ref_fields(w, &node.key));
    w.bool(2, node.is_placeholder());
    w.uint64(3, node.first_seq);
    // Field 4 (tags) is not in the basic view.
    for flag in convert::flags(node) {
        w.prost(5, &flag);
    }
    match &node.facts {
        Facts::Experiment(created) => w.message(10, |w| {
            if let Some(created) = created {
                w.timestamp(2, created.stamp.occurred_at);
            }
        }),
        Facts::Run(run) => w.message(11, |w| {
            let started = run.started.as_ref();
            if let Some(experiment) = started.and_then(|s| s.value.experiment.as_deref()) {
                w.string(1, experiment);
            }
            let status = run
                .status()
                .map_or(v1::RunStatus::Unspecified, convert::run_status);
            w.enumeration(4, status as i32);
            if let Some(started) = started {
                w.timestamp(7, started.stamp.occurred_at);
            }
            if let Some(finished) = &run.finished {
                w.timestamp(8, finished.stamp.occurred_at);
            }
        }),
        Facts::DatasetVersion(registered) => w.message(12, |w| {
            if let Some(registered) = registered {
                w.timestamp(5, registered.stamp.occurred_at);
            }
        }),
        Facts::Artifact(logged) => w.message(13, |w| {
            if let Some(logged) = logged {
                w.string(5, &logged.value.kind);
                w.timestamp(7, logged.stamp.occurred_at);
            }
        }),
        Facts::ModelVersion(model) => w.message(14, |w| {
            let stage = model
                .stage()
                .map_or(v1::ModelStage::Unspecified, convert::model_stage);
            w.enumeration(6, stage as i32);
            deployments(w, graph, index);
            promotion(w, graph, index);
        }),
        Facts::Endpoint(current) => endpoint_details(w, current.as_deref()),
        Facts::Environment | Facts::Compute => {}
    }
}

/// A model version's deployments (field 8 of its details), in both views.
fn deployments(w: &mut Writer, graph: &AsOf<'_>, model: NodeIndex) {
    for deployment in convert::deployments(graph, model) {
        w.prost(8, &deployment);
    }
}

/// A production model version's promotion status (field 9 of its
/// details), in both views.
fn promotion(w: &mut Writer, graph: &AsOf<'_>, model: NodeIndex) {
    if let Some(status) = convert::promotion_status(graph, model) {
        w.prost(9, &status);
    }
}

/// An endpoint's details, the same in both views.
fn endpoint_details(w: &mut Writer, current: Option<&Lww<DeploymentFacts>>) {
    if let Some(details) = convert::endpoint_details(current) {
        details.encode(&mut w.buf);
    }
}

fn entity_ref_fields(w: &mut Writer, key: &EntityKey) {
    w.string(1, key.workspace.as_str());
    w.enumeration(2, convert::entity_kind(key.kind) as i32);
    w.string(3, &key.name);
    w.string(4, &key.version);
}

fn edge_fields(
    w: &mut Writer,
    graph: &AsOf<'_>,
    index: EdgeIndex,
    (from_node, to_node): (u32, u32),
    form: EdgeForm,
) {
    let (from, to, data) = graph.edge(index);
    if form == EdgeForm::Full {
        w.message(1, |w| entity_ref_fields(w, graph.key(from)));
        w.message(2, |w| entity_ref_fields(w, graph.key(to)));
    }
    w.enumeration(3, convert::edge_kind(data.kind()) as i32);
    w.uint64(4, data.first_seq());
    w.uint64(5, u64::from(from_node));
    w.uint64(6, u64::from(to_node));
}

/// Writes proto3 fields as prost does: scalars and strings only when they
/// are not their default, messages whenever they are present.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    fn uint64(&mut self, field: u32, value: u64) {
        if value != 0 {
            encode_key(field, WireType::Varint, &mut self.buf);
            encode_varint(value, &mut self.buf);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        // Two's complement, as protobuf's int64 (and int32, sign-extended).
        self.uint64(field, value as u64);
    }

    fn enumeration(&mut self, field: u32, value: i32) {
        self.int64(field, i64::from(value));
    }

    fn bool(&mut self, field: u32, value: bool) {
        self.uint64(field, u64::from(value));
    }

    fn double(&mut self, field: u32, value: f64) {
        // prost's test for the default: -0.0 is left out too, NaN is not.
        if value != 0.0 {
            encode_key(field, WireType::SixtyFourBit, &mut self.buf);
            self.buf.put_f64_le(value);
        }
    }

    /// An element of a repeated string field: written even when empty.
    fn repeated_string(&mut self, field: u32, value: &str) {
        encode_key(field, WireType::LengthDelimited, &mut self.buf);
        encode_varint(value.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(value.as_bytes());
    }

    /// A message of two strings, fields 1 and 2: a `map<string, string>`
    /// entry, or one of the wire's references (dataset version, artifact,
    /// model version, environment). An empty string is left out.
    fn string_pair(&mut self, field: u32, first: &str, second: &str) {
        self.message(field, |w| {
            w.string(1, first);
            w.string(2, second);
        });
    }

    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            encode_key(field, WireType::LengthDelimited, &mut self.buf);
            encode_varint(value.len() as u64, &mut self.buf);
            self.buf.extend_from_slice(value.as_bytes());
        }
    }

    fn timestamp(&mut self, field: u32, time: EventTime) {
        let (seconds, nanos) = time.to_unix();
        self.message(field, |w| {
            w.int64(1, seconds);
            w.enumeration(2, nanos);
        });
    }

    /// A nested message written by `fields`. Its length is known only
    /// afterwards: one byte is kept for it, and the body moved along in the
    /// rare case (128 bytes or more) that the length needs more.
    fn message(&mut self, field: u32, fields: impl FnOnce(&mut Self)) {
        encode_key(field, WireType::LengthDelimited, &mut self.buf);
        let at = self.buf.len();
        self.buf.push(0);
        fields(self);
        let len = self.buf.len() - at - 1;
        if len < 0x80 {
            self.buf[at] = len as u8;
        } else {
            let mut prefix = [0u8; 10];
            let width = encoded_len_varint(len as u64);
            encode_varint(len as u64, &mut &mut prefix[..]);
            self.buf.splice(at..=at, prefix[..width].iter().copied());
        }
    }

    /// A nested message encoded by prost.
    fn prost(&mut self, field: u32, message: &impl Message) {
        encode_key(field, WireType::LengthDelimited, &mut self.buf);
        encode_varint(message.encoded_len() as u64, &mut self.buf);
        message.encode_raw(&mut self.buf);
    }
}

#[cfg(test)]
mod tests;
