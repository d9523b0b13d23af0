//! The filter language of `SearchRuns` and of promotion criteria: terms
//! joined by `and`, parsed into a [`Filter`], and the evaluation of one
//! term against one run ([`evaluate_run`], [`run_satisfies`]).
//!
//! Parsing and evaluation live together, in the domain, because two
//! questions read the same language: the search (`crate::search`) picks
//! its candidates from indexes and checks every term on each with
//! [`run_holds`], and the promotion check checks a model version's
//! criteria against its source run with [`evaluate_run`]. A criterion
//! must mean in a promotion what it means in a search.
//!
//! The language, like MLflow's `search_runs` (no `or`, no parentheses):
//!
//! ```text
//! filter     = [ term { "and" term } ]            at most 64 terms, 4096 bytes
//! term       = "metrics." key cmp number
//!            | ("params." | "tags.") key (cmp | "like" | "ilike") text
//!            | "status" ("=" | "!=") string
//!            | ("started_at" | "ended_at") cmp time-string
//!            | ("experiment" | "name" | "code_version" | "compute"
//!               | "environment" | "parent") ("=" | "!=") string
//!            | "uses" ("dataset" | "model") string
//!            | "upstream" "of" "model" string
//!            | "produced" "dataset" string
//!            | "no" "flagged" "upstream" | "approved" | "stages" "approved"
//! cmp        = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! key        = [A-Za-z0-9_.\-/]+ | "`" any "`"
//! string     = "'" ... "'" | '"' ... '"'     backslash escapes \\ \' \" \n \t \r
//! text       = string | number               a bare number stands for its digits
//! ```
//!
//! Keywords, attribute names and status values are case-insensitive; keys
//! and values are not. Errors name the 1-based character column where the
//! parser stopped and what it expected there ([`FilterError`]).
//!
//! A run that lacks what a term reads (a metric, a parameter, a tag, an
//! end time, an experiment...) never satisfies it, `!=` included: the
//! term speaks of the value, and there is none.

use std::fmt;

use hashbrown::HashSet;
use petgraph::graph::NodeIndex;

use crate::as_of::AsOf;
use crate::event::{EventTime, RunStatus};
use crate::graph::{EdgeKind, Facts, Node};
use crate::id::{self, EntityKey, EntityKind, Workspace};
use crate::query::{EdgeKinds, NodeKinds, TraversalSpec, Walk};

/// The longest filter, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The most terms in one filter.
pub const MAX_TERMS: usize = 64;

/// Why a filter does not parse: where (the 1-based character column at
/// which the parser stopped) and what it expected there. The caller shows
/// it to whoever wrote the filter; retrying the same text fails the same
/// way.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("at column {position}: {message}")]
pub struct FilterError {
    /// 1-based, in characters (not bytes) of the filter as written.
    pub position: usize,
    pub message: String,
}

/// A parsed filter: every term must hold.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Filter {
    pub terms: Vec<Term>,
}

/// One term of a filter.
#[derive(Clone, PartialEq, Debug)]
pub struct Term {
    /// The term as written, trimmed: what answers report it by (a
    /// promotion check lists each criterion with its verdict).
    pub text: String,
    /// Where the term starts in the filter (1-based characters).
    pub column: usize,
    pub condition: Condition,
}

/// What a term asks of a run.
#[derive(Clone, PartialEq, Debug)]
pub enum Condition {
    /// The run's latest value of the metric (at its highest step).
    Metric {
        key: String,
        comparison: Comparison,
        value: f64,
    },
    /// The run's value of a parameter.
    Param { key: String, test: TextTest },
    /// The run's value of a tag.
    Tag { key: String, test: TextTest },
    /// The run's status: `equal` is false for `!=`.
    Status { equal: bool, status: RunStatus },
    /// The event time of the run's start.
    StartedAt {
        comparison: Comparison,
        time: EventTime,
    },
    /// The event time of the run's end.
    EndedAt {
        comparison: Comparison,
        time: EventTime,
    },
    /// One of the run's start facts, as a string.
    Attribute {
        attribute: Attribute,
        equal: bool,
        value: String,
    },
    /// The run's environment, at one version or at any.
    Environment {
        equal: bool,
        name: String,
        version: Option<String>,
    },
    /// The run declared this dataset version (any version, when `None`)
    /// as an input.
    UsesDataset {
        dataset: String,
        version: Option<String>,
    },
    /// The run declared this model version (any version, when `None`) as
    /// an input.
    UsesModel {
        model: String,
        version: Option<String>,
    },
    /// The run is the model version's source run or upstream of it in the
    /// lineage graph (within the traversal's bounds).
    UpstreamOfModel { model: String, version: String },
    /// The run produced this dataset version (any version, when `None`).
    ProducedDataset {
        dataset: String,
        version: Option<String>,
    },
    /// Promotion only: nothing upstream of the model version is flagged.
    NoFlaggedUpstream,
    /// Promotion only: the registration names an approver.
    Approved,
    /// Promotion only: every stage change names an approver.
    StagesApproved,
}

impl Condition {
    /// Whether the term speaks of a model version rather than of a run,
    /// so that only promotion criteria may hold it.
    pub fn is_promotion_only(&self) -> bool {
        matches!(
            self,
            Condition::NoFlaggedUpstream | Condition::Approved | Condition::StagesApproved
        )
    }
}

/// A run's start fact compared as a string.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attribute {
    Experiment,
    /// The run's name (not its id).
    Name,
    CodeVersion,
    /// The compute target.
    Compute,
    /// The parent run's id.
    Parent,
}

impl Attribute {
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Experiment => "experiment",
            Attribute::Name => "name",
            Attribute::CodeVersion => "code_version",
            Attribute::Compute => "compute",
            Attribute::Parent => "parent",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    /// Whether `left <op> right`. Values that do not compare (a NaN
    /// metric) satisfy no comparison, `!=` included.
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let Some(ordering) = left.partial_cmp(&right) else {
            return false;
        };
        match self {
            Comparison::Equal => ordering == Equal,
            Comparison::NotEqual => ordering != Equal,
            Comparison::Less => ordering == Less,
            Comparison::LessOrEqual => ordering != Greater,
            Comparison::Greater => ordering == Greater,
            Comparison::GreaterOrEqual => ordering != Less,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::NotEqual => "!=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// How a parameter's or a tag's value is tested.
#[derive(Clone, PartialEq, Debug)]
pub enum TextTest {
    Equal(String),
    NotEqual(String),
    /// SQL `LIKE` (or `ILIKE`) over the whole value.
    Like(LikePattern),
    /// `< <= > >=` between numbers: the literal is one, and a value that
    /// is not satisfies nothing.
    Number(Comparison, f64),
}

impl TextTest {
    pub fn matches(&self, value: &str) -> bool {
        match self {
            TextTest::Equal(expected) => value == expected,
            TextTest::NotEqual(expected) => value != expected,
            TextTest::Like(pattern) => pattern.matches(value),
            TextTest::Number(comparison, expected) => {
                parse_number(value).is_some_and(|value| comparison.holds(value, *expected))
            }
        }
    }
}

/// The value a string stands for as a number, when it is a finite one
/// (`"0.01"`, `"1e-3"`, `"-2"`); not `"NaN"` or `"inf"`.
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !looks_numeric {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A SQL `LIKE` pattern: `%` stands for any run of characters, `_` for
/// one; everything else for itself (there is no escape character).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LikePattern {
    /// As written.
    pub pattern: String,
    /// `ILIKE`: letters match whatever their case.
    pub case_insensitive: bool,
}

impl LikePattern {
    /// Whether the whole of `value` matches. Greedy with backtracking to
    /// the last `%`: linear in practice, at worst the product of the two
    /// lengths (both bounded: the pattern by the filter, values by
    /// validation).
    pub fn matches(&self, value: &str) -> bool {
        let pattern: Vec<char> = self.pattern.chars().collect();
        let same = |p: char, v: char| {
            p == v || (self.case_insensitive && p.to_lowercase().eq(v.to_lowercase()))
        };
        let (mut p, mut v) = (0usize, 0usize);
        // After the last `%` seen: the pattern position after it, and the
        // byte in `value` its run of characters ends at so far.
        let mut last_wildcard: Option<(usize, usize)> = None;
        loop {
            let next = value[v..].chars().next();
            match (pattern.get(p), next) {
                (Some('%'), _) => {
                    p += 1;
                    last_wildcard = Some((p, v));
                    continue;
                }
                (Some(&wanted), Some(found)) if wanted == '_' || same(wanted, found) => {
                    p += 1;
                    v += found.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            // A mismatch: let the last `%` take one more character.
            let Some((after_wildcard, taken_to)) = last_wildcard else {
                return false;
            };
            let Some(taken) = value[taken_to..].chars().next() else {
                return false;
            };
            let taken_to = taken_to + taken.len_utf8();
            last_wildcard = Some((after_wildcard, taken_to));
            p = after_wildcard;
            v = taken_to;
        }
    }
}

/// How far the lineage terms walk the graph (`upstream of model`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LineageBounds {
    /// Hops from the model version.
    pub max_depth: u32,
    /// Nodes visited, runs or not.
    pub max_visits: usize,
}

impl Default for LineageBounds {
    /// The service's defaults for a traversal.
    fn default() -> Self {
        LineageBounds {
            max_depth: 64,
            max_visits: 500_000,
        }
    }
}

/// A term's verdict on one run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Evaluation {
    pub satisfied: bool,
    /// The term walked the lineage graph and a bound cut the walk: a run
    /// beyond it would not be found, so `false` may be wrong.
    pub lineage_truncated: bool,
}

/// Whether the run satisfies a run-level term in the view. `None` for a
/// promotion-only term, which speaks of a model version, not of a run.
/// `upstream of model` walks the graph within [`LineageBounds::default`];
/// see [`evaluate_run`] for other bounds and for whether the walk was cut.
pub fn run_satisfies(view: &AsOf<'_>, run: NodeIndex, condition: &Condition) -> Option<bool> {
    evaluate_run(view, run, condition, LineageBounds::default())
        .map(|evaluation| evaluation.satisfied)
}

/// [`run_satisfies`] with the lineage walk's bounds, telling whether a
/// bound cut it. A node that is not a run satisfies no term.
pub fn evaluate_run(
    view: &AsOf<'_>,
    run: NodeIndex,
    condition: &Condition,
    bounds: LineageBounds,
) -> Option<Evaluation> {
    if let Condition::UpstreamOfModel { model, version } = condition {
        let workspace = &view.key(run).workspace;
        let upstream = upstream_runs(view, workspace, model, version, bounds);
        return Some(Evaluation {
            satisfied: upstream.runs.contains(&run),
            lineage_truncated: upstream.truncated,
        });
    }
    let node = view.node(run);
    run_holds(view, run, &node, condition).map(|satisfied| Evaluation {
        satisfied,
        lineage_truncated: false,
    })
}

/// The runs upstream of a model version, found once per question.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct UpstreamRuns {
    pub(crate) runs: HashSet<NodeIndex>,
    pub(crate) truncated: bool,
}

/// The model version's source run and every run upstream of it: a bounded
/// provenance walk that returns only runs.
pub(crate) fn upstream_runs(
    view: &AsOf<'_>,
    workspace: &Workspace,
    model: &str,
    version: &str,
    bounds: LineageBounds,
) -> UpstreamRuns {
    let Some(root) = view.find(&EntityKey::model_version(workspace, model, version)) else {
        return UpstreamRuns::default();
    };
    let spec = TraversalSpec {
        walk: Walk::Provenance,
        max_depth: bounds.max_depth,
        edge_kinds: EdgeKinds::lineage(),
        node_kinds: NodeKinds::of([EntityKind::Run]),
        // Only the depth and the visits bound this walk: it returns runs
        // only, fewer than it visits, and the few edges among them.
        max_nodes: usize::MAX,
        max_edges: usize::MAX,
        max_visits: bounds.max_visits,
    };
    let walked = view.traverse(root, &spec);
    UpstreamRuns {
        truncated: walked.truncated,
        // The root, a model version, comes first.
        runs: walked.nodes.into_iter().skip(1).collect(),
    }
}

/// Whether the run satisfies a term that its own facts and edges decide:
/// `None` for `upstream of model` (a walk of the graph, which a caller
/// does once per question) and for promotion-only terms. `node` is the
/// view's copy of `run`.
pub(crate) fn run_holds(
    view: &AsOf<'_>,
    run: NodeIndex,
    node: &Node,
    condition: &Condition,
) -> Option<bool> {
    let Facts::Run(facts) = &node.facts else {
        return Some(false);
    };
    let started = facts.started.as_ref().map(|started| &started.value);
    Some(match condition {
        Condition::Metric {
            key,
            comparison,
            value,
        } => facts
            .metric(key)
            .is_some_and(|series| comparison.holds(series.latest().value, *value)),
        Condition::Param { key, test } => facts
            .params
            .get(key)
            .is_some_and(|param| test.matches(param.value.as_str())),
        Condition::Tag { key, test } => node
            .tags
            .get(key)
            .is_some_and(|tag| test.matches(tag.value.as_str())),
        Condition::Status { equal, status } => {
            facts.status().is_some_and(|now| (now == *status) == *equal)
        }
        Condition::StartedAt { comparison, time } => facts
            .started
            .as_ref()
            .is_some_and(|started| comparison.holds(started.stamp.occurred_at, *time)),
        Condition::EndedAt { comparison, time } => facts
            .finished
            .as_ref()
            .is_some_and(|finished| comparison.holds(finished.stamp.occurred_at, *time)),
        Condition::Attribute {
            attribute,
            equal,
            value,
        } => {
            let actual = started.and_then(|started| match attribute {
                Attribute::Experiment => started.experiment.as_deref(),
                Attribute::Name => Some(started.name.as_str()),
                Attribute::CodeVersion => Some(started.code_version.as_str()),
                Attribute::Compute => started.compute_target.as_deref(),
                Attribute::Parent => started.parent_run_id.as_deref(),
            });
            actual.is_some_and(|actual| (actual == value) == *equal)
        }
        Condition::Environment {
            equal,
            name,
            version,
        } => started
            .and_then(|started| started.environment.as_ref())
            .is_some_and(|environment| {
                let same = environment.name == *name
                    && version.as_ref().is_none_or(|v| environment.version == *v);
                same == *equal
            }),
        Condition::UsesDataset { dataset, version } => {
            view.incoming(run, EdgeKind::Input).any(|(_, input)| {
                is_version_of(
                    view.key(input),
                    EntityKind::DatasetVersion,
                    dataset,
                    version,
                )
            })
        }
        Condition::UsesModel { model, version } => {
            view.incoming(run, EdgeKind::Input).any(|(_, input)| {
                is_version_of(view.key(input), EntityKind::ModelVersion, model, version)
            })
        }
        Condition::ProducedDataset { dataset, version } => {
            view.outgoing(run, EdgeKind::Produced).any(|(_, output)| {
                is_version_of(
                    view.key(output),
                    EntityKind::DatasetVersion,
                    dataset,
                    version,
                )
            })
        }
        Condition::UpstreamOfModel { .. }
        | Condition::NoFlaggedUpstream
        | Condition::Approved
        | Condition::StagesApproved => return None,
    })
}

/// Whether `key` is a version of `name` of that kind (any version, when
/// `version` is `None`).
fn is_version_of(key: &EntityKey, kind: EntityKind, name: &str, version: &Option<String>) -> bool {
    key.kind == kind && key.name == name && version.as_ref().is_none_or(|v| key.version == *v)
}

impl Filter {
    /// Parses a `SearchRuns` filter. Empty text (or only spaces) matches
    /// every run. Promotion-only terms are refused: they speak of a model
    /// version, which a search of runs has none of.
    pub fn parse_search(text: &str) -> Result<Filter, FilterError> {
        let filter = Parser::parse(text)?;
        if let Some(term) = filter
            .terms
            .iter()
            .find(|term| term.condition.is_promotion_only())
        {
            return Err(FilterError {
                position: term.column,
                message: format!(
                    "`{}` is a promotion criterion, not a search term",
                    term.text
                ),
            });
        }
        Ok(filter)
    }

    /// Parses promotion criteria: every term is allowed, and there must
    /// be at least one (criteria that ask nothing would pass every model).
    pub fn parse_criteria(text: &str) -> Result<Filter, FilterError> {
        let filter = Parser::parse(text)?;
        if filter.terms.is_empty() {
            return Err(FilterError {
                position: 1,
                message: "promotion criteria need at least one term".into(),
            });
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// What a term's operator position held.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Operator {
    Compare(Comparison),
    Like,
    ILike,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Compare(comparison) => comparison.fmt(f),
            Operator::Like => f.write_str("like"),
            Operator::ILike => f.write_str("ilike"),
        }
    }
}

/// A recursive-descent parser over the filter's characters; the cursor
/// is a character index, so that errors name columns as a person counts.
struct Parser {
    chars: Vec<char>,
    at: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')
}

/// What the attribute terms are called, and what each reads.
enum Named {
    Status,
    StartedAt,
    EndedAt,
    Attribute(Attribute),
    Environment,
}

fn named(word: &str) -> Option<Named> {
    Some(match word {
        "status" => Named::Status,
        "started_at" => Named::StartedAt,
        "ended_at" => Named::EndedAt,
        "experiment" => Named::Attribute(Attribute::Experiment),
        "name" => Named::Attribute(Attribute::Name),
        "code_version" => Named::Attribute(Attribute::CodeVersion),
        "compute" => Named::Attribute(Attribute::Compute),
        "parent" => Named::Attribute(Attribute::Parent),
        "environment" => Named::Environment,
        _ => return None,
    })
}

const TERM_STARTS: &str = "metrics.<key>, params.<key>, tags.<key>, status, started_at, \
     ended_at, experiment, name, code_version, compute, environment, parent, uses dataset, \
     uses model, upstream of model, produced dataset, no flagged upstream, approved or \
     stages approved";

impl Parser {
    fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                position: 1,
                message: format!(
                    "the filter is {} bytes long, the limit is {MAX_FILTER_BYTES}",
                    text.len()
                ),
            });
        }
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let mut terms = Vec::new();
        parser.skip_spaces();
        if parser.at_end() {
            return Ok(Filter { terms });
        }
        loop {
            if terms.len() == MAX_TERMS {
                return Err(parser.error(format!("a filter has at most {MAX_TERMS} terms")));
            }
            let start = parser.at;
            let condition = parser.term()?;
            let text: String = parser.chars[start..parser.at].iter().collect();
            terms.push(Term {
                text: text.trim().to_owned(),
                column: start + 1,
                condition,
            });
            parser.skip_spaces();
            if parser.at_end() {
                return Ok(Filter { terms });
            }
            let before_and = parser.at;
            match parser.word() {
                Some(word) if word.eq_ignore_ascii_case("and") => {}
                _ => {
                    parser.at = before_and;
                    let last = &terms[terms.len() - 1].text;
                    return Err(parser.error(format!(
                        "expected `and` or the end of the filter after `{last}`, found {}",
                        parser.found()
                    )));
                }
            }
            parser.skip_spaces();
            if parser.at_end() {
                return Err(
                    parser.error("expected a term after `and`, found the end of the filter")
                );
            }
        }
    }

    fn at_end(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.at, message)
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position: at + 1,
            message: message.into(),
        }
    }

    /// What is at the cursor, for an error: the next word, symbol run or
    /// string (at most 32 characters), or the end.
    fn found(&self) -> String {
        let Some(first) = self.peek() else {
            return "the end of the filter".into();
        };
        let rest = &self.chars[self.at..];
        let lexeme: String = if first == '\'' || first == '"' || first == '`' {
            let close = rest[1..].iter().position(|&c| c == first);
            rest.iter()
                .take(close.map_or(rest.len(), |close| close + 2))
                .collect()
        } else if is_word_char(first) {
            rest.iter().take_while(|&&c| is_word_char(c)).collect()
        } else if matches!(first, '=' | '!' | '<' | '>') {
            rest.iter()
                .take_while(|&&c| matches!(c, '=' | '!' | '<' | '>'))
                .collect()
        } else {
            first.to_string()
        };
        let shown: String = lexeme.chars().take(32).collect();
        let ellipsis = if shown.len() < lexeme.len() {
            "..."
        } else {
            ""
        };
        if matches!(first, '\'' | '"' | '`') {
            // A quoted lexeme shows its own quotes.
            format!("{shown}{ellipsis}")
        } else {
            format!("'{shown}{ellipsis}'")
        }
    }

    /// Reads a bare word at the cursor (after spaces), if there is one.
    fn word(&mut self) -> Option<String> {
        self.skip_spaces();
        let start = self.at;
        while self.peek().is_some_and(is_word_char) {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    /// Reads the keyword `expected` (any case), or fails saying what
    /// follows `after`.
    fn keyword(&mut self, expected: &str, after: &str) -> Result<(), FilterError> {
        self.skip_spaces();
        let start = self.at;
        match self.word() {
            Some(word) if word.eq_ignore_ascii_case(expected) => Ok(()),
            _ => {
                self.at = start;
                Err(self.error(format!(
                    "expected `{expected}` after `{after}`, found {}",
                    self.found()
                )))
            }
        }
    }

    fn term(&mut self) -> Result<Condition, FilterError> {
        self.skip_spaces();
        let start = self.at;
        let Some(word) = self.word() else {
            return Err(self.error(format!(
                "expected a term ({TERM_STARTS}), found {}",
                self.found()
            )));
        };
        let lower = word.to_ascii_lowercase();
        if let Some((head, key)) = word.split_once('.') {
            let kind = match head.to_ascii_lowercase().as_str() {
                "metrics" | "metric" => Some("metrics"),
                "params" | "param" => Some("params"),
                "tags" | "tag" => Some("tags"),
                _ => None,
            };
            if let Some(kind) = kind {
                let key_at = start + head.chars().count() + 1;
                let key = self.key(kind, key, key_at)?;
                let subject = format!("{kind}.{}", display_key(&key));
                return match kind {
                    "metrics" => self.metric(key, &subject),
                    "params" => Ok(Condition::Param {
                        test: self.text_test(&subject)?,
                        key,
                    }),
                    _ => Ok(Condition::Tag {
                        test: self.text_test(&subject)?,
                        key,
                    }),
                };
            }
        }
        if let Some(named) = named(&lower) {
            return self.named(named, &lower);
        }
        match lower.as_str() {
            "uses" => {
                self.skip_spaces();
                let what_at = self.at;
                match self.word().map(|w| w.to_ascii_lowercase()).as_deref() {
                    Some("dataset") => {
                        let (dataset, version) = self.reference("uses dataset", false)?;
                        Ok(Condition::UsesDataset { dataset, version })
                    }
                    Some("model") => {
                        let (model, version) = self.reference("uses model", false)?;
                        Ok(Condition::UsesModel { model, version })
                    }
                    _ => {
                        self.at = what_at;
                        Err(self.error(format!(
                            "expected `dataset` or `model` after `uses`, found {}",
                            self.found()
                        )))
                    }
                }
            }
            "upstream" => {
                self.keyword("of", "upstream")?;
                self.keyword("model", "upstream of")?;
                let (model, version) = self.reference("upstream of model", true)?;
                Ok(Condition::UpstreamOfModel {
                    model,
                    version: version.unwrap_or_default(),
                })
            }
            "produced" => {
                self.keyword("dataset", "produced")?;
                let (dataset, version) = self.reference("produced dataset", false)?;
                Ok(Condition::ProducedDataset { dataset, version })
            }
            "no" => {
                self.keyword("flagged", "no")?;
                self.keyword("upstream", "no flagged")?;
                Ok(Condition::NoFlaggedUpstream)
            }
            "approved" => Ok(Condition::Approved),
            "stages" => {
                self.keyword("approved", "stages")?;
                Ok(Condition::StagesApproved)
            }
            _ => {
                self.at = start;
                Err(self.error(format!(
                    "expected a term ({TERM_STARTS}), found {}",
                    self.found()
                )))
            }
        }
    }

    /// The key after `metrics.`, `params.` or `tags.`: the rest of the
    /// bare word, or a backquoted key right after the dot.
    fn key(&mut self, kind: &str, bare: &str, key_at: usize) -> Result<String, FilterError> {
        let key = if !bare.is_empty() {
            bare.to_owned()
        } else if self.peek() == Some('`') {
            let open = self.at;
            self.at += 1;
            let start = self.at;
            while self.peek().is_some_and(|c| c != '`') {
                self.at += 1;
            }
            if self.at_end() {
                return Err(self.error_at(open, "a backquoted key is not closed"));
            }
            let key: String = self.chars[start..self.at].iter().collect();
            self.at += 1;
            key
        } else {
            self.skip_spaces();
            return Err(self.error(format!(
                "expected a key after `{kind}.` (a word, or `a key` in backquotes), found {}",
                self.found()
            )));
        };
        id::check_key(&key)
            .map_err(|e| self.error_at(key_at, format!("the key after `{kind}.` {e}")))?;
        Ok(key)
    }

    fn operator(&mut self, subject: &str) -> Result<(usize, Operator), FilterError> {
        self.skip_spaces();
        let at = self.at;
        let symbols: String = self.chars[self.at..]
            .iter()
            .take_while(|&&c| matches!(c, '=' | '!' | '<' | '>'))
            .collect();
        let comparison = match symbols.as_str() {
            "=" => Some(Comparison::Equal),
            "!=" | "<>" => Some(Comparison::NotEqual),
            "<" => Some(Comparison::Less),
            "<=" => Some(Comparison::LessOrEqual),
            ">" => Some(Comparison::Greater),
            ">=" => Some(Comparison::GreaterOrEqual),
            _ => None,
        };
        if let Some(comparison) = comparison {
            self.at += symbols.chars().count();
            return Ok((at, Operator::Compare(comparison)));
        }
        if symbols.is_empty() {
            match self.word().map(|w| w.to_ascii_lowercase()).as_deref() {
                Some("like") => return Ok((at, Operator::Like)),
                Some("ilike") => return Ok((at, Operator::ILike)),
                _ => self.at = at,
            }
        }
        Err(self.error(format!(
            "expected a comparison operator after {subject}, found {}",
            self.found()
        )))
    }

    /// A comparison among `allowed`, or an error naming them.
    fn comparison_of(
        &mut self,
        subject: &str,
        allowed: &[Comparison],
    ) -> Result<Comparison, FilterError> {
        let (at, operator) = self.operator(subject)?;
        match operator {
            Operator::Compare(comparison) if allowed.contains(&comparison) => Ok(comparison),
            _ => {
                let names: Vec<&str> = allowed.iter().map(|c| c.symbol()).collect();
                Err(self.error_at(
                    at,
                    format!("{subject} takes {}, not {operator}", names.join(" ")),
                ))
            }
        }
    }

    fn metric(&mut self, key: String, subject: &str) -> Result<Condition, FilterError> {
        let comparison = self.comparison_of(subject, &ALL_COMPARISONS)?;
        let after = format!("{subject} {comparison}");
        self.skip_spaces();
        let at = self.at;
        if matches!(self.peek(), Some('\'' | '"')) {
            return Err(self.error(format!(
                "{subject} compares with a number, found the string {} (write it without quotes)",
                self.found()
            )));
        }
        let Some(text) = self.number_text() else {
            return Err(self.error(format!(
                "expected a number after {after}, found {}",
                self.found()
            )));
        };
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Condition::Metric {
                key,
                comparison,
                value,
            }),
            _ => Err(self.error_at(at, format!("'{text}' is not a finite number"))),
        }
    }

    /// The characters of a bare number at the cursor, if it starts one.
    fn number_text(&mut self) -> Option<String> {
        self.skip_spaces();
        let start = self.at;
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        {
            return None;
        }
        while self.peek().is_some_and(is_number_char) {
            self.at += 1;
        }
        Some(self.chars[start..self.at].iter().collect())
    }

    /// A parameter's or tag's operator and value.
    fn text_test(&mut self, subject: &str) -> Result<TextTest, FilterError> {
        let (_, operator) = self.operator(subject)?;
        let after = format!("{subject} {operator}");
        self.skip_spaces();
        let value_at = self.at;
        let value = match self.peek() {
            Some('\'' | '"') => self.string(&after)?,
            _ => match self.number_text() {
                Some(number) => number,
                None => {
                    return Err(self.error(format!(
                        "expected a quoted string after {after}, found {}",
                        self.found()
                    )));
                }
            },
        };
        Ok(match operator {
            Operator::Compare(Comparison::Equal) => TextTest::Equal(value),
            Operator::Compare(Comparison::NotEqual) => TextTest::NotEqual(value),
            Operator::Compare(comparison) => match parse_number(&value) {
                Some(number) => TextTest::Number(comparison, number),
                None => {
                    return Err(self.error_at(
                        value_at,
                        format!(
                            "{subject} {comparison} compares numbers, and '{value}' is not one \
                             (use = != like ilike for strings)"
                        ),
                    ));
                }
            },
            Operator::Like => TextTest::Like(LikePattern {
                pattern: value,
                case_insensitive: false,
            }),
            Operator::ILike => TextTest::Like(LikePattern {
                pattern: value,
                case_insensitive: true,
            }),
        })
    }

    /// A quoted string with its escapes decoded.
    fn string(&mut self, after: &str) -> Result<String, FilterError> {
        self.skip_spaces();
        let open = self.at;
        let quote = match self.peek() {
            Some(quote @ ('\'' | '"')) => quote,
            _ => {
                return Err(self.error(format!(
                    "expected a quoted string after {after}, found {}",
                    self.found()
                )));
            }
        };
        self.at += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(open, "this string is not closed")),
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(value);
                }
                Some('\\') => {
                    let escaped = match self.chars.get(self.at + 1) {
                        Some('\\') => '\\',
                        Some('\'') => '\'',
                        Some('"') => '"',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some(other) => {
                            return Err(self.error(format!(
                                "unknown escape \\{other} (known: \\\\ \\' \\\" \\n \\t \\r)"
                            )));
                        }
                        None => return Err(self.error_at(open, "this string is not closed")),
                    };
                    value.push(escaped);
                    self.at += 2;
                }
                Some(c) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// The terms named by a word: status, times and start facts.
    fn named(&mut self, named: Named, name: &str) -> Result<Condition, FilterError> {
        const EQUALITY: [Comparison; 2] = [Comparison::Equal, Comparison::NotEqual];
        match named {
            Named::Status => {
                let comparison = self.comparison_of(name, &EQUALITY)?;
                let after = format!("{name} {comparison}");
                self.skip_spaces();
                let at = self.at;
                let value = self.string(&after)?;
                let status = match value.to_ascii_uppercase().as_str() {
                    "STARTED" => RunStatus::Started,
                    "COMPLETED" => RunStatus::Completed,
                    "FAILED" => RunStatus::Failed,
                    "CANCELED" | "CANCELLED" => RunStatus::Canceled,
                    _ => {
                        return Err(self.error_at(
                            at,
                            format!(
                                "'{value}' is not a run status \
                                 (STARTED, COMPLETED, FAILED or CANCELED)"
                            ),
                        ));
                    }
                };
                Ok(Condition::Status {
                    equal: comparison == Comparison::Equal,
                    status,
                })
            }
            Named::StartedAt | Named::EndedAt => {
                let comparison = self.comparison_of(name, &ALL_COMPARISONS)?;
                let after = format!("{name} {comparison}");
                self.skip_spaces();
                let at = self.at;
                let value = self.string(&after)?;
                let time = parse_time(&value)
                    .map_err(|why| self.error_at(at, format!("'{value}' {why}")))?;
                Ok(match named {
                    Named::StartedAt => Condition::StartedAt { comparison, time },
                    _ => Condition::EndedAt { comparison, time },
                })
            }
            Named::Attribute(attribute) => {
                let comparison = self.comparison_of(name, &EQUALITY)?;
                let after = format!("{name} {comparison}");
                self.skip_spaces();
                let at = self.at;
                let value = self.string(&after)?;
                let checked = match attribute {
                    Attribute::Experiment | Attribute::Compute => id::check_name(&value),
                    Attribute::Parent => id::check_run_id(&value),
                    Attribute::Name | Attribute::CodeVersion => Ok(()),
                };
                checked.map_err(|e| self.error_at(at, format!("the {name} '{value}' {e}")))?;
                Ok(Condition::Attribute {
                    attribute,
                    equal: comparison == Comparison::Equal,
                    value,
                })
            }
            Named::Environment => {
                let comparison = self.comparison_of(name, &EQUALITY)?;
                let after = format!("{name} {comparison}");
                let (name, version) = self.reference(&after, false)?;
                Ok(Condition::Environment {
                    equal: comparison == Comparison::Equal,
                    name,
                    version,
                })
            }
        }
    }

    /// A quoted `name@version` (or `name`, unless `needs_version`), both
    /// parts checked as the events that name them were.
    fn reference(
        &mut self,
        after: &str,
        needs_version: bool,
    ) -> Result<(String, Option<String>), FilterError> {
        self.skip_spaces();
        let at = self.at;
        let value = self.string(after)?;
        let (name, version) = match value.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (value.as_str(), None),
        };
        let invalid = |message: String| self.error_at(at, message);
        id::check_name(name).map_err(|e| invalid(format!("the name in '{value}' {e}")))?;
        match version {
            Some(version) => id::check_version(version)
                .map_err(|e| invalid(format!("the version in '{value}' {e}")))?,
            None if needs_version => {
                return Err(invalid(format!(
                    "{after} needs a version: '{value}@<version>'"
                )));
            }
            None => {}
        }
        Ok((name.to_owned(), version.map(str::to_owned)))
    }
}

const ALL_COMPARISONS: [Comparison; 6] = [
    Comparison::Equal,
    Comparison::NotEqual,
    Comparison::Less,
    Comparison::LessOrEqual,
    Comparison::Greater,
    Comparison::GreaterOrEqual,
];

/// A key as it would be written: bare when it can be, else backquoted.
fn display_key(key: &str) -> String {
    if key.chars().all(is_word_char) {
        key.to_owned()
    } else {
        format!("`{key}`")
    }
}

/// Reads an RFC 3339 time (`2026-01-01T12:30:00Z`, `...T12:30:00.5+02:00`)
/// or a date (`2026-01-01`, midnight UTC). The error completes
/// "'<value>' ...".
pub fn parse_time(text: &str) -> Result<EventTime, String> {
    const EXPECTED: &str = "is not an RFC 3339 time (2026-01-01T12:00:00Z) or a date (2026-01-01)";
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let digits = bytes.get(range).ok_or(EXPECTED)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(EXPECTED.into());
        }
        Ok(digits
            .iter()
            .fold(0i64, |n, digit| n * 10 + i64::from(digit - b'0')))
    };
    let separator = |at: usize, allowed: &[u8]| -> Result<(), String> {
        match bytes.get(at) {
            Some(found) if allowed.contains(found) => Ok(()),
            _ => Err(EXPECTED.into()),
        }
    };
    let year = number(0..4)?;
    separator(4, b"-")?;
    let month = number(5..7)?;
    separator(7, b"-")?;
    let day = number(8..10)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("{EXPECTED}: there is no such day"));
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0i64;
    if bytes.len() > 10 {
        separator(10, b"Tt ")?;
        let hour = number(11..13)?;
        separator(13, b":")?;
        let minute = number(14..16)?;
        separator(16, b":")?;
        let second = number(17..19)?;
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!("{EXPECTED}: there is no such time of day"));
        }
        seconds += hour * 3600 + minute * 60 + second;
        let mut at = 19;
        if bytes.get(at) == Some(&b'.') {
            let start = at + 1;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            if end == start || end - start > 9 {
                return Err(format!(
                    "{EXPECTED}: fractions of a second take 1 to 9 digits"
                ));
            }
            let fraction = number(start..end)?;
            nanos = fraction * 10i64.pow(9 - (end - start) as u32);
            at = end;
        }
        match bytes.get(at) {
            Some(b'Z' | b'z') if at + 1 == bytes.len() => {}
            Some(sign @ (b'+' | b'-')) if at + 6 == bytes.len() => {
                let offset_hours = number(at + 1..at + 3)?;
                separator(at + 3, b":")?;
                let offset_minutes = number(at + 4..at + 6)?;
                if offset_hours > 23 || offset_minutes > 59 {
                    return Err(format!("{EXPECTED}: there is no such offset"));
                }
                let offset = offset_hours * 3600 + offset_minutes * 60;
                // Local time is UTC plus the offset.
                seconds -= if *sign == b'+' { offset } else { -offset };
            }
            _ => return Err(format!("{EXPECTED}: a time needs its offset (Z or +HH:MM)")),
        }
    }
    EventTime::from_unix(seconds, nanos as i32)
        .ok_or_else(|| "is outside the times events can have (1970 to 2200)".to_owned())
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(text: &str) -> Vec<Condition> {
        Filter::parse_search(text)
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
            .terms
            .into_iter()
            .map(|term| term.condition)
            .collect()
    }

    fn one(text: &str) -> Condition {
        let mut conditions = search(text);
        assert_eq!(conditions.len(), 1, "{text:?} is one term");
        conditions.remove(0)
    }

    fn error(text: &str) -> FilterError {
        match Filter::parse_search(text) {
            Ok(filter) => panic!("{text:?} should not parse, got {filter:?}"),
            Err(error) => error,
        }
    }

    /// The error's column and a part of its message.
    fn assert_error(text: &str, position: usize, says: &str) {
        let error = error(text);
        assert_eq!(error.position, position, "{text:?}: {error}");
        assert!(
            error.message.contains(says),
            "{text:?}: {error} should say {says:?}"
        );
    }

    fn time(text: &str) -> EventTime {
        parse_time(text).unwrap_or_else(|e| panic!("{text:?} {e}"))
    }

    #[test]
    fn empty_filters_match_everything_but_criteria_need_a_term() {
        assert!(Filter::parse_search("").expect("empty").is_empty());
        assert!(Filter::parse_search("  \n\t ").expect("blank").is_empty());
        let error = Filter::parse_criteria("   ").expect_err("criteria need a term");
        assert_eq!(error.position, 1);
    }

    #[test]
    fn metric_terms_compare_numbers() {
        assert_eq!(
            one("metrics.auc > 0.8"),
            Condition::Metric {
                key: "auc".into(),
                comparison: Comparison::Greater,
                value: 0.8
            }
        );
        let cases = [
            ("metrics.loss<=1e-3", Comparison::LessOrEqual, 1e-3),
            ("metrics.loss >= -2", Comparison::GreaterOrEqual, -2.0),
            ("metrics.loss != .5", Comparison::NotEqual, 0.5),
            ("metrics.loss <> 7", Comparison::NotEqual, 7.0),
            ("metrics.loss = +3.25E2", Comparison::Equal, 325.0),
            ("metric.loss < 1", Comparison::Less, 1.0),
        ];
        for (text, comparison, value) in cases {
            assert_eq!(
                one(text),
                Condition::Metric {
                    key: "loss".into(),
                    comparison,
                    value
                },
                "{text}"
            );
        }
    }

    #[test]
    fn keys_may_be_bare_words_or_backquoted() {
        assert_eq!(
            one("metrics.val/auc-macro.v2 > 1"),
            Condition::Metric {
                key: "val/auc-macro.v2".into(),
                comparison: Comparison::Greater,
                value: 1.0
            }
        );
        assert_eq!(
            one("params.`learning rate` = '0.01'"),
            Condition::Param {
                key: "learning rate".into(),
                test: TextTest::Equal("0.01".into())
            }
        );
        assert_eq!(
            one("TAGS.`team:owner` != 'x'"),
            Condition::Tag {
                key: "team:owner".into(),
                test: TextTest::NotEqual("x".into())
            }
        );
    }

    #[test]
    fn param_and_tag_terms_compare_strings_patterns_and_numbers() {
        assert_eq!(
            one("params.lr = '0.01'"),
            Condition::Param {
                key: "lr".into(),
                test: TextTest::Equal("0.01".into())
            }
        );
        // A bare number stands for its digits, as written.
        assert_eq!(
            one("params.lr = 0.010"),
            Condition::Param {
                key: "lr".into(),
                test: TextTest::Equal("0.010".into())
            }
        );
        assert_eq!(
            one("params.lr < \"0.05\""),
            Condition::Param {
                key: "lr".into(),
                test: TextTest::Number(Comparison::Less, 0.05)
            }
        );
        assert_eq!(
            one("tags.region LIKE 'em%'"),
            Condition::Tag {
                key: "region".into(),
                test: TextTest::Like(LikePattern {
                    pattern: "em%".into(),
                    case_insensitive: false
                })
            }
        );
        assert_eq!(
            one("tags.region ilike 'EM_A'"),
            Condition::Tag {
                key: "region".into(),
                test: TextTest::Like(LikePattern {
                    pattern: "EM_A".into(),
                    case_insensitive: true
                })
            }
        );
    }

    #[test]
    fn strings_take_either_quote_and_backslash_escapes() {
        assert_eq!(
            one(r#"tags.note = 'it\'s a \"test\"\\n'"#),
            Condition::Tag {
                key: "note".into(),
                test: TextTest::Equal("it's a \"test\"\\n".into())
            }
        );
        assert_eq!(
            one(r#"tags.note = "tab\there""#),
            Condition::Tag {
                key: "note".into(),
                test: TextTest::Equal("tab\there".into())
            }
        );
        // A string may hold what would otherwise end a term.
        assert_eq!(
            one("name = 'a and b'"),
            Condition::Attribute {
                attribute: Attribute::Name,
                equal: true,
                value: "a and b".into()
            }
        );
    }

    #[test]
    fn attribute_terms() {
        assert_eq!(
            one("status = 'completed'"),
            Condition::Status {
                equal: true,
                status: RunStatus::Completed
            }
        );
        assert_eq!(
            one("STATUS != 'FAILED'"),
            Condition::Status {
                equal: false,
                status: RunStatus::Failed
            }
        );
        let attribute = |text, attribute, equal, value: &str| {
            assert_eq!(
                one(text),
                Condition::Attribute {
                    attribute,
                    equal,
                    value: value.into()
                },
                "{text}"
            );
        };
        attribute(
            "experiment = 'credit-risk'",
            Attribute::Experiment,
            true,
            "credit-risk",
        );
        attribute("name != 'trial 7'", Attribute::Name, false, "trial 7");
        attribute(
            "code_version = 'abc123'",
            Attribute::CodeVersion,
            true,
            "abc123",
        );
        attribute("compute = 'gpu-a100'", Attribute::Compute, true, "gpu-a100");
        attribute("parent = 'sweep-1'", Attribute::Parent, true, "sweep-1");
        assert_eq!(
            one("environment = 'sklearn@1.4'"),
            Condition::Environment {
                equal: true,
                name: "sklearn".into(),
                version: Some("1.4".into())
            }
        );
        assert_eq!(
            one("environment != 'sklearn'"),
            Condition::Environment {
                equal: false,
                name: "sklearn".into(),
                version: None
            }
        );
    }

    #[test]
    fn time_terms_take_rfc3339_times_and_dates() {
        assert_eq!(
            one("started_at >= '2026-01-01'"),
            Condition::StartedAt {
                comparison: Comparison::GreaterOrEqual,
                time: EventTime::from_unix(1_767_225_600, 0).expect("in range")
            }
        );
        assert_eq!(
            one("ended_at < '2026-03-01T10:30:00.25+01:00'"),
            Condition::EndedAt {
                comparison: Comparison::Less,
                // 09:30:00.25 UTC.
                time: EventTime::from_unix(1_772_357_400, 250_000_000).expect("in range")
            }
        );
        assert_eq!(time("1970-01-01T00:00:00Z"), EventTime::MIN);
        assert_eq!(
            time("2000-02-29"),
            EventTime::from_unix(951_782_400, 0).expect("in range")
        );
        assert_eq!(time("2000-02-29t00:00:00z"), time("2000-02-29"));
        assert_eq!(
            time("2026-07-06 10:00:00+02:00"),
            time("2026-07-06T08:00:00Z")
        );
        assert_eq!(
            time("2026-07-06T06:00:00-02:00"),
            time("2026-07-06T08:00:00Z")
        );
        assert_eq!(
            time("2026-07-06T08:00:00.123456789Z").unix_nanos() % 1_000_000_000,
            123_456_789
        );
        for bad in [
            "2026-1-01",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-01-01T24:00:00Z",
            "2026-01-01T10:00:00",
            "2026-01-01T10:00Z",
            "2026-01-01T10:00:00.Z",
            "2026-01-01T10:00:00.1234567890Z",
            "1969-12-31",
            "2300-01-01",
            "yesterday",
        ] {
            assert!(parse_time(bad).is_err(), "{bad} is not a time");
        }
    }

    #[test]
    fn lineage_terms() {
        assert_eq!(
            one("uses dataset 'applications@3'"),
            Condition::UsesDataset {
                dataset: "applications".into(),
                version: Some("3".into())
            }
        );
        assert_eq!(
            one("USES Dataset 'applications'"),
            Condition::UsesDataset {
                dataset: "applications".into(),
                version: None
            }
        );
        assert_eq!(
            one("uses model 'credit-risk@7'"),
            Condition::UsesModel {
                model: "credit-risk".into(),
                version: Some("7".into())
            }
        );
        assert_eq!(
            one("upstream of model 'credit-risk@7'"),
            Condition::UpstreamOfModel {
                model: "credit-risk".into(),
                version: "7".into()
            }
        );
        assert_eq!(
            one("produced dataset 'features@1'"),
            Condition::ProducedDataset {
                dataset: "features".into(),
                version: Some("1".into())
            }
        );
    }

    #[test]
    fn terms_keep_their_text_and_column() {
        let filter = Filter::parse_search(
            "  metrics.auc >= 0.8   AND params.lr='0.01'and\nuses dataset 'applications@3' ",
        )
        .expect("parses");
        let texts: Vec<(&str, usize)> = filter
            .terms
            .iter()
            .map(|term| (term.text.as_str(), term.column))
            .collect();
        assert_eq!(
            texts,
            [
                ("metrics.auc >= 0.8", 3),
                ("params.lr='0.01'", 28),
                ("uses dataset 'applications@3'", 48),
            ]
        );
    }

    #[test]
    fn promotion_terms_are_criteria_only() {
        let criteria = Filter::parse_criteria(
            "metrics.precision >= 0.9 and no flagged upstream and APPROVED and stages approved",
        )
        .expect("criteria parse");
        let conditions: Vec<&Condition> = criteria.terms.iter().map(|t| &t.condition).collect();
        assert_eq!(
            conditions[1..],
            [
                &Condition::NoFlaggedUpstream,
                &Condition::Approved,
                &Condition::StagesApproved
            ]
        );
        assert_error(
            "status = 'COMPLETED' and no flagged upstream",
            26,
            "`no flagged upstream` is a promotion criterion, not a search term",
        );
        assert_error("approved", 1, "`approved` is a promotion criterion");
    }

    #[test]
    fn errors_say_where_and_why() {
        let error = error("status = 'FAILED' and metrics.auc auc2 > 1");
        assert_eq!(
            error.to_string(),
            "at column 35: expected a comparison operator after metrics.auc, found 'auc2'"
        );
        // (filter, column, part of the message)
        let cases = [
            (
                "metrics.auc > 'high'",
                15,
                "compares with a number, found the string 'high'",
            ),
            (
                "metrics.auc > ",
                15,
                "expected a number after metrics.auc >, found the end",
            ),
            (
                "metrics.auc like '0.8%'",
                13,
                "metrics.auc takes = != < <= > >=, not like",
            ),
            ("metrics.auc > 1e999", 15, "'1e999' is not a finite number"),
            ("metrics. > 1", 10, "expected a key after `metrics.`"),
            ("metrics.`auc > 1", 9, "a backquoted key is not closed"),
            ("params.`bad key ` = 'x'", 8, "the key after `params.`"),
            (
                "params.lr < 'fast'",
                13,
                "compares numbers, and 'fast' is not one",
            ),
            (
                "params.lr = fast",
                13,
                "expected a quoted string after params.lr =, found 'fast'",
            ),
            ("tags.team = 'risk", 13, "this string is not closed"),
            ("tags.team = 'ri\\sk'", 16, "unknown escape \\s"),
            ("status < 'FAILED'", 8, "status takes = !=, not <"),
            ("status = 'RUNNING'", 10, "'RUNNING' is not a run status"),
            ("started_at > '2026-02-30'", 14, "there is no such day"),
            ("experiment = 'has space'", 14, "the experiment 'has space'"),
            (
                "uses artifact 'x'",
                6,
                "expected `dataset` or `model` after `uses`, found 'artifact'",
            ),
            (
                "upstream model 'm@1'",
                10,
                "expected `of` after `upstream`, found 'model'",
            ),
            ("upstream of model 'credit-risk'", 19, "needs a version"),
            ("uses dataset 'a@b@c'", 14, "the version in 'a@b@c'"),
            (
                "metrics.a > 1 metrics.b > 2",
                15,
                "expected `and` or the end of the filter after `metrics.a > 1`, found 'metrics.b'",
            ),
            ("metrics.a > 1 or metrics.b > 2", 15, "found 'or'"),
            ("metrics.a > 1 and", 18, "expected a term after `and`"),
            ("metrics.a > 1 and ()", 19, "expected a term (metrics.<key>"),
            ("auc > 1", 1, "expected a term (metrics.<key>, params.<key>"),
            ("tags.city = 'Zürich' and bogus", 26, "found 'bogus'"),
        ];
        for (text, position, says) in cases {
            assert_error(text, position, says);
        }
    }

    #[test]
    fn filters_are_bounded() {
        let long = format!("name = '{}'", "x".repeat(MAX_FILTER_BYTES));
        assert_error(&long, 1, "the limit is 4096");
        let terms = vec!["metrics.a > 1"; MAX_TERMS].join(" and ");
        assert_eq!(search(&terms).len(), MAX_TERMS);
        let too_many = format!("{terms} and metrics.b > 2");
        let error = error(&too_many);
        assert!(error.message.contains("at most 64 terms"), "{error}");
        assert_eq!(error.position, terms.chars().count() + " and ".len() + 1);
    }

    #[test]
    fn like_patterns_match_whole_values() {
        let like = |pattern: &str, case_insensitive: bool| LikePattern {
            pattern: pattern.into(),
            case_insensitive,
        };
        let cases = [
            ("em%", "emea", true),
            ("em%", "em", true),
            ("em%", "xemea", false),
            ("%ea", "emea", true),
            ("%m%a", "emea", true),
            ("e_ea", "emea", true),
            ("e_a", "emea", false),
            ("%", "", true),
            ("_", "", false),
            ("a%b%c", "aXbYbZc", true),
            ("a%b%c", "aXbYbZ", false),
            ("%ü_", "grüße", false),
            ("%ü__", "grüße", true),
            ("exact", "exact", true),
            ("exact", "Exact", false),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                like(pattern, false).matches(value),
                expected,
                "{value} like {pattern}"
            );
        }
        assert!(like("EM%", true).matches("emea"));
        assert!(like("gRÜ%", true).matches("grüße"));
        assert!(!like("EM%", false).matches("emea"));
    }

    #[test]
    fn text_tests() {
        assert!(TextTest::Number(Comparison::Less, 0.05).matches("0.01"));
        assert!(TextTest::Number(Comparison::Less, 0.05).matches("1e-3"));
        assert!(!TextTest::Number(Comparison::Less, 0.05).matches("fast"));
        assert!(!TextTest::Number(Comparison::Less, 0.05).matches("NaN"));
        assert!(!TextTest::Number(Comparison::Greater, 0.05).matches("inf"));
        assert!(TextTest::NotEqual("a".into()).matches("b"));
        assert!(!TextTest::Equal("0.01".into()).matches("0.010"));
        assert!(
            !Comparison::NotEqual.holds(f64::NAN, 1.0),
            "NaN satisfies nothing"
        );
        assert!(Comparison::LessOrEqual.holds(1.0, 1.0));
    }
}
