//! How a new application revision reaches its devices: the rollout
//! strategy an Application's spec names, validated, and the arithmetic of
//! its steps. Pure data and functions; the rollout reconciler (issue 4)
//! drives them.
//!
//! ```
//! use wasmbed_model::{Step, Strategy};
//! let s = Strategy::canary("1,10%,50%,100%").unwrap();
//! let Strategy::Canary { steps, .. } = &s else { unreachable!() };
//! let counts: Vec<usize> = steps.iter().map(|st| st.resolve(200)).collect();
//! assert_eq!(counts, [1, 20, 100, 200]);
//! assert_eq!(Step::Percent(10).to_string(), "10%");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// One step of a rollout: a number of devices, or a share of the targeted fleet.
/// Written as a string: `"5"` or `"10%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Step {
    /// This many devices.
    Devices(u32),
    /// This percentage (1..=100) of the devices the selector matches.
    Percent(u8),
}

impl Step {
    /// Devices this step covers in a fleet of `total`. Percentages round up,
    /// so a non-zero share of a non-empty fleet is at least one device;
    /// counts are capped at the fleet.
    pub fn resolve(&self, total: usize) -> usize {
        match *self {
            Self::Devices(n) => (n as usize).min(total),
            Self::Percent(p) => (total * usize::from(p)).div_ceil(100),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Devices(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            match p.parse::<u8>() {
                Ok(p @ 1..=100) => Ok(Self::Percent(p)),
                _ => Err(format!("{s:?} is not a percentage from 1% to 100%")),
            }
        } else {
            match s.parse::<u32>() {
                Ok(n @ 1..) => Ok(Self::Devices(n)),
                _ => Err(format!("{s:?} is neither a device count (1 or more) nor a percentage like 10%")),
            }
        }
    }
}

impl TryFrom<String> for Step {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Step> for String {
    fn from(s: Step) -> String {
        s.to_string()
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Step {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([1-9][0-9]*|([1-9]|[1-9][0-9]|100)%)$",
            "description": "A device count (`5`) or a share of the targeted devices (`10%`)."
        })
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Step {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^([1-9][0-9]*|([1-9]|[1-9][0-9]|100)%)$"))
            .description(Some("A device count (`5`) or a share of the targeted devices (`10%`)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Step {}

/// A rollout strategy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Strategy {
    /// Every targeted device at once.
    #[default]
    AllAtOnce,
    /// Devices in waves; at most `max_unavailable` are updating (or failed) at a time.
    #[serde(rename_all = "camelCase")]
    Rolling {
        /// Devices allowed to be updating at once.
        max_unavailable: Step,
    },
    /// Growing steps with a health gate between them: every updated device
    /// must run the app and heartbeat for `soak_ms`; more than
    /// `max_failures` failed devices in a step stop the rollout and roll
    /// back every device it touched.
    #[serde(rename_all = "camelCase")]
    Canary {
        /// Cumulative devices updated after each step; increasing, ending at 100%.
        steps: Vec<Step>,
        /// Soak time of the health gate.
        #[serde(default)]
        soak_ms: u64,
        /// Failures tolerated per step.
        #[serde(default = "no_failures")]
        max_failures: u32,
        /// Bounds on what the app reports (`temp_c < 80`): every updated
        /// device's latest value of each metric must stay within them; a
        /// device outside one counts as failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gates: Vec<MetricGate>,
    },
    /// The new revision installed beside the old on every device, then
    /// switched; the old one is kept for instant rollback.
    #[serde(rename_all = "camelCase")]
    BlueGreen {
        /// How long the new revision must stay healthy before the old is dropped.
        #[serde(default)]
        soak_ms: u64,
    },
}

fn no_failures() -> u32 {
    0
}

const STEPS: &str = "spec.strategy.steps";

impl Strategy {
    /// A canary with `steps` as the CLI takes them (`1,10%,50%,100%`), no
    /// soak time and no tolerated failures.
    pub fn canary(steps: &str) -> Result<Self, ValidationError> {
        let steps = steps
            .split(',')
            .map(|s| s.parse::<Step>().map_err(|why| ValidationError { field: STEPS, why }))
            .collect::<Result<Vec<_>, _>>()?;
        let s = Self::Canary { steps, soak_ms: 0, max_failures: 0, gates: Vec::new() };
        s.validate()?;
        Ok(s)
    }

    /// Steps as the CLI takes them (`1,10%,100%`); panics on a bad list
    /// (for tests and examples with literal steps).
    pub fn canary_steps(steps: &str) -> Vec<Step> {
        match Self::canary(steps) {
            Ok(Self::Canary { steps, .. }) => steps,
            other => panic!("bad canary steps {steps:?}: {other:?}"),
        }
    }

    /// A canary from steps that parse but may not validate (for tests of validation).
    #[cfg(test)]
    pub(crate) fn canary_unchecked(steps: &str) -> Self {
        let steps = steps.split(',').map(|s| s.parse().expect("step parses")).collect();
        Self::Canary { steps, soak_ms: 0, max_failures: 0, gates: Vec::new() }
    }

    /// Name as the CLI and API say it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AllAtOnce => "all-at-once",
            Self::Rolling { .. } => "rolling",
            Self::Canary { .. } => "canary",
            Self::BlueGreen { .. } => "blue-green",
        }
    }

    /// Checks what serde cannot: steps increase and end at the whole fleet.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |field, why: String| Err(ValidationError { field, why });
        match self {
            Self::AllAtOnce | Self::BlueGreen { .. } => Ok(()),
            Self::Rolling { max_unavailable } => match max_unavailable {
                Step::Devices(0) | Step::Percent(0) => bad("spec.strategy.maxUnavailable", "must be at least 1".into()),
                _ => Ok(()),
            },
            Self::Canary { steps, .. } => {
                if steps.is_empty() {
                    return bad(STEPS, "needs at least one step".into());
                }
                for pair in steps.windows(2) {
                    let ok = match (pair[0], pair[1]) {
                        (Step::Devices(a), Step::Devices(b)) => b > a,
                        (Step::Percent(a), Step::Percent(b)) => b > a,
                        (Step::Devices(_), Step::Percent(_)) => true,
                        (Step::Percent(_), Step::Devices(_)) => {
                            return bad(
                                STEPS,
                                format!("{} after {}: a device count cannot follow a percentage", pair[1], pair[0]),
                            );
                        }
                    };
                    if !ok {
                        return bad(STEPS, format!("steps must increase, but {} follows {}", pair[1], pair[0]));
                    }
                }
                match steps.last() {
                    Some(Step::Percent(100)) => Ok(()),
                    Some(last) => bad(STEPS, format!("the last step is {last}; it must be 100%")),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A comparison a metric gate makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOp {
    /// `<`
    Below,
    /// `<=`
    AtMost,
    /// `>`
    Above,
    /// `>=`
    AtLeast,
}

impl GateOp {
    fn symbol(self) -> &'static str {
        match self {
            Self::Below => "<",
            Self::AtMost => "<=",
            Self::Above => ">",
            Self::AtLeast => ">=",
        }
    }
}

/// A bound on an app metric a canary's updated devices must keep:
/// `temp_c < 80`, `error_rate <= 0.01`. Written (in specs, the API and the
/// CLI) as that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricGate {
    /// Metric name.
    pub metric: String,
    /// Comparison.
    pub op: GateOp,
    /// The bound.
    pub bound: crate::Gauge,
}

impl MetricGate {
    /// Whether `value` keeps the bound.
    pub fn holds(&self, value: f64) -> bool {
        let b = self.bound.0;
        match self.op {
            GateOp::Below => value < b,
            GateOp::AtMost => value <= b,
            GateOp::Above => value > b,
            GateOp::AtLeast => value >= b,
        }
    }
}

impl fmt::Display for MetricGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.bound.0)
    }
}

impl FromStr for MetricGate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let form = "write a gate as METRIC OP NUMBER with OP one of <, <=, >, >= (e.g. `temp_c < 80`)";
        let at = s.find(['<', '>']).ok_or_else(|| format!("{s:?}: no comparison; {form}"))?;
        let (metric, rest) = s.split_at(at);
        let (op, bound) = match rest.strip_prefix("<=").map(|b| (GateOp::AtMost, b)) {
            Some(x) => x,
            None => match rest.strip_prefix(">=") {
                Some(b) => (GateOp::AtLeast, b),
                None if rest.starts_with('<') => (GateOp::Below, &rest[1..]),
                None => (GateOp::Above, &rest[1..]),
            },
        };
        let metric = metric.trim();
        if !wasmbed_protocol::valid_metric_name(metric) {
            return Err(format!("{s:?}: {metric:?} is not a metric name ([a-z][a-z0-9_.]*, at most 32); {form}"));
        }
        let bound: f64 =
            bound.trim().parse().map_err(|_| format!("{s:?}: {:?} is not a number; {form}", bound.trim()))?;
        if !bound.is_finite() {
            return Err(format!("{s:?}: the bound must be a finite number"));
        }
        Ok(Self { metric: metric.into(), op, bound: crate::Gauge(bound) })
    }
}

impl TryFrom<String> for MetricGate {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MetricGate> for String {
    fn from(g: MetricGate) -> Self {
        g.to_string()
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for MetricGate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MetricGate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": GATE_PATTERN,
            "description": "A bound on an app metric: METRIC OP NUMBER, OP one of <, <=, >, >=."
        })
    }
}

/// The text form of a gate, as a JSON-schema pattern.
#[cfg(any(feature = "schema", feature = "openapi"))]
const GATE_PATTERN: &str = "^\\s*[a-z][a-z0-9_.]{0,31}\\s*(<|<=|>|>=)\\s*[-+0-9.eE]+\\s*$";

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MetricGate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(GATE_PATTERN))
            .description(Some("A bound on an app metric: METRIC OP NUMBER, OP one of <, <=, >, >= (`temp_c < 80`)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MetricGate {}

/// How a revision's last rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RevisionOutcome {
    /// Every targeted device was assigned it and passed the gates.
    Completed,
    /// A health gate failed; touched devices went back.
    RolledBack,
    /// An operator stopped it; touched devices went back.
    Aborted,
    /// The spec changed to another revision before it completed.
    Superseded,
}

impl RevisionOutcome {
    /// Name as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "Completed",
            Self::RolledBack => "RolledBack",
            Self::Aborted => "Aborted",
            Self::Superseded => "Superseded",
        }
    }

    /// How a rollout that ended in `phase` ends its revision (`None` while
    /// it moves).
    pub fn of(phase: RolloutPhase) -> Option<Self> {
        match phase {
            RolloutPhase::Completed => Some(Self::Completed),
            RolloutPhase::RolledBack => Some(Self::RolledBack),
            RolloutPhase::Aborted => Some(Self::Aborted),
            RolloutPhase::Progressing | RolloutPhase::Paused => None,
        }
    }

    /// Reads an outcome as records before this type wrote it: a phase name,
    /// `Phase: why` or `Superseded before it completed`.
    pub fn parse_legacy(s: &str) -> Option<Self> {
        let word = s.split([':', ' ']).next().unwrap_or_default();
        [Self::Completed, Self::RolledBack, Self::Aborted, Self::Superseded].into_iter().find(|o| o.as_str() == word)
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RolloutPhase {
    /// Moving through its steps.
    #[default]
    Progressing,
    /// Held by an operator; assignments stay as they are.
    Paused,
    /// Every targeted device is assigned the new revision.
    Completed,
    /// A health gate failed: every touched device is back on the previous revision.
    RolledBack,
    /// Stopped by an operator; touched devices are back on the previous revision.
    Aborted,
}

impl RolloutPhase {
    /// Name as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Progressing => "Progressing",
            Self::Paused => "Paused",
            Self::Completed => "Completed",
            Self::RolledBack => "RolledBack",
            Self::Aborted => "Aborted",
        }
    }

    /// The rollout moves no further.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::RolledBack | Self::Aborted)
    }
}

/// A rollout's progress, kept in the Application's status so that a
/// restarted control plane resumes exactly where it was.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Revision being rolled out.
    pub revision: u64,
    /// A return to a kept revision: applied to every device at once, with
    /// no health gate (the fleet ran it before).
    #[serde(default)]
    pub rollback: bool,
    /// Revision it replaces (rolled back to), if any.
    pub previous: Option<u64>,
    /// Phase.
    pub phase: RolloutPhase,
    /// Index of the current step (canary), wave (rolling) or stage
    /// (blue-green: 0 installs beside, 1 switches).
    #[serde(default)]
    pub step: u32,
    /// When the current step started (ms since the Unix epoch).
    #[serde(default)]
    pub step_started_ms: u64,
    /// Devices assigned the new revision so far.
    #[serde(default)]
    pub touched: std::collections::BTreeSet<String>,
    /// Why it stopped, for people.
    pub message: Option<String>,
}

impl RolloutStatus {
    /// A rollout of `revision` replacing `previous`, starting at `now_ms`.
    pub fn start(revision: u64, previous: Option<u64>, now_ms: u64) -> Self {
        Self { revision, previous, step_started_ms: now_ms, ..Self::default() }
    }

    /// The revisions devices may be sent now: the one it replaces (if
    /// any, and another) and its own, in that order.
    pub fn sent_revisions(&self) -> Vec<u64> {
        self.previous.filter(|p| *p != self.revision).into_iter().chain([self.revision]).collect()
    }

    /// The revision `device` should run: the new one once touched (or
    /// when the rollout completed), otherwise the previous one.
    pub fn assigned(&self, device: &str) -> Option<u64> {
        let new = match self.phase {
            RolloutPhase::Completed => true,
            RolloutPhase::RolledBack | RolloutPhase::Aborted => false,
            RolloutPhase::Progressing | RolloutPhase::Paused => self.touched.contains(device),
        };
        if new { Some(self.revision) } else { self.previous }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_and_resolve() {
        let s = Strategy::canary(" 1, 10%,50% ,100%").unwrap();
        let Strategy::Canary { steps, .. } = &s else { panic!() };
        assert_eq!(steps, &[Step::Devices(1), Step::Percent(10), Step::Percent(50), Step::Percent(100)]);
        assert_eq!(steps.iter().map(|s| s.resolve(7)).collect::<Vec<_>>(), [1, 1, 4, 7]);
        assert_eq!(steps.iter().map(|s| s.resolve(0)).collect::<Vec<_>>(), [0, 0, 0, 0]);
        assert_eq!(Step::Devices(5).resolve(3), 3);
    }

    #[test]
    fn bad_steps_name_the_field_and_say_why() {
        for (steps, why) in [
            ("10%,5%,100%", "must increase"),
            ("1,1,100%", "must increase"),
            ("10%,5,100%", "cannot follow a percentage"),
            ("1,10%", "must be 100%"),
            ("0,100%", "neither a device count"),
            ("1,150%,100%", "1% to 100%"),
            ("1,,100%", "neither"),
            ("x", "neither"),
        ] {
            let e = Strategy::canary(steps).unwrap_err();
            assert_eq!(e.field, "spec.strategy.steps", "{steps}");
            assert!(e.why.contains(why), "{steps}: {}", e.why);
        }
    }

    #[test]
    fn strategies_round_trip_as_json_and_refuse_unknown_types() {
        let all = [
            Strategy::AllAtOnce,
            Strategy::Rolling { max_unavailable: Step::Percent(25) },
            Strategy::canary("1,10%,100%").unwrap(),
            Strategy::BlueGreen { soak_ms: 5000 },
        ];
        for s in all {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Strategy::Rolling { max_unavailable: Step::Devices(2) }).unwrap(),
            r#"{"type":"rolling","maxUnavailable":"2"}"#
        );
        assert!(serde_json::from_str::<Strategy>(r#"{"type":"big-bang"}"#).is_err());
        assert!(serde_json::from_str::<Strategy>(r#"{"type":"rolling","maxUnavailable":"0"}"#).is_err());
        assert!(serde_json::from_str::<Strategy>(r#"{"type":"canary","steps":["1"],"extra":1}"#).is_err());
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn gates_read_and_print_as_text() {
        for (text, value, holds) in [
            ("temp_c < 80", 79.9, true),
            ("temp_c<80", 80.0, false),
            ("error_rate <= 0.01", 0.01, true),
            ("x >= -3", -3.5, false),
            ("up > 0", 1.0, true),
        ] {
            let g: MetricGate = text.parse().unwrap();
            assert_eq!(g.holds(value), holds, "{text} with {value}");
            assert_eq!(g.to_string().parse::<MetricGate>().unwrap(), g);
        }
        let json = serde_json::to_value(Strategy::Canary {
            steps: Strategy::canary_steps("1,100%"),
            soak_ms: 0,
            max_failures: 0,
            gates: vec!["temp_c < 80".parse().unwrap()],
        })
        .unwrap();
        assert_eq!(json["gates"][0], "temp_c < 80");
        assert!(serde_json::from_value::<Strategy>(serde_json::json!({"type": "canary", "steps": ["100%"]})).is_ok());
    }

    #[test]
    fn malformed_gates_say_how_to_write_one() {
        for bad in ["temp_c", "temp_c = 3", "Temp < 3", "< 3", "temp_c < hot", "temp_c < inf", "temp_c <"] {
            let e = bad.parse::<MetricGate>().unwrap_err();
            assert!(e.contains(bad) || e.contains("finite"), "{bad}: {e}");
        }
        let bad = serde_json::json!({"type": "canary", "steps": ["100%"], "gates": ["temp_c ~ 3"]});
        assert!(serde_json::from_value::<Strategy>(bad).is_err());
    }
}
