//! How an application's code runs on devices: interpreted, or as native
//! code the platform compiled ahead of time per board — and the record of
//! those builds a revision keeps.

use serde::{Deserialize, Serialize};
use wasmbed_protocol::NativeCode;

/// How a device app runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// The module, interpreted on the device (wasmi).
    #[default]
    Interpreted,
    /// Native code compiled per board ahead of time; a board whose build
    /// failed, or that no toolchain builds for, runs the interpreter and
    /// the build record says why.
    Native,
    /// Native code where the board has an artifact, else the interpreter:
    /// the same fallback as `native`, asked for as the normal case.
    Auto,
}

impl Execution {
    /// Whether this is the default (interpreted).
    pub fn is_interpreted(&self) -> bool {
        *self == Self::Interpreted
    }

    /// The name as specs write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Interpreted => "interpreted",
            Self::Native => "native",
            Self::Auto => "auto",
        }
    }
}

impl std::str::FromStr for Execution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "interpreted" => Ok(Self::Interpreted),
            "native" => Ok(Self::Native),
            "auto" => Ok(Self::Auto),
            _ => Err(format!("unknown execution {s:?}: interpreted, native or auto")),
        }
    }
}

/// A compiled artifact: what a manifest names and a gateway sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NativeArtifactRef {
    /// The board it runs on.
    pub board: String,
    /// Hex SHA-256 of the artifact's bytes, which the module store keeps.
    pub digest: String,
    /// Its size in bytes.
    pub size: u32,
    /// What compiled it: tool versions, runtime digest and flags.
    pub compiler: String,
}

impl NativeArtifactRef {
    /// As a manifest names it; `None` if the digest is not SHA-256 hex.
    pub fn code(&self) -> Option<NativeCode> {
        let sha = <[u8; 32]>::try_from(hex::decode(&self.digest).ok()?).ok()?;
        Some(NativeCode {
            board: self.board.clone(),
            sha256: sha.into(),
            size: self.size,
            compiler: self.compiler.clone(),
        })
    }
}

/// How one board's build of a revision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NativeBuildState {
    /// Compiled: the board's devices run the artifact.
    Built,
    /// Not compiled: the board's devices run the interpreter.
    Failed,
}

/// One board's native build of a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NativeBuild {
    /// The board.
    pub board: String,
    /// How it ended.
    pub state: NativeBuildState,
    /// The artifact, when built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<NativeArtifactRef>,
    /// Why not, when it failed (the board runs the interpreter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl NativeBuild {
    /// A build that produced `artifact`.
    pub fn built(artifact: NativeArtifactRef) -> Self {
        Self { board: artifact.board.clone(), state: NativeBuildState::Built, artifact: Some(artifact), reason: None }
    }

    /// A build for `board` that failed because of `reason`.
    pub fn failed(board: &str, reason: impl Into<String>) -> Self {
        Self { board: board.into(), state: NativeBuildState::Failed, artifact: None, reason: Some(reason.into()) }
    }

    /// The artifact, if this build made one.
    pub fn artifact(&self) -> Option<&NativeArtifactRef> {
        match self.state {
            NativeBuildState::Built => self.artifact.as_ref(),
            NativeBuildState::Failed => None,
        }
    }
}

/// What a manifest names for `builds`: every artifact, sorted by board;
/// `None` when there is none (so interpreted manifests stay as they were).
pub fn native_codes(builds: &[NativeBuild]) -> Option<Vec<NativeCode>> {
    let mut codes: Vec<NativeCode> = builds.iter().filter_map(|b| b.artifact()?.code()).collect();
    codes.sort_by(|a, b| a.board.cmp(&b.board));
    (!codes.is_empty()).then_some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(board: &str, digest: &str) -> NativeArtifactRef {
        NativeArtifactRef { board: board.into(), digest: digest.into(), size: 9, compiler: "gcc".into() }
    }

    #[test]
    fn executions_read_as_specs_write_them() {
        for e in [Execution::Interpreted, Execution::Native, Execution::Auto] {
            assert_eq!(e.as_str().parse::<Execution>(), Ok(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        let bad = "fast".parse::<Execution>().unwrap_err();
        assert!(bad.contains("interpreted, native or auto"), "{bad}");
    }

    #[test]
    fn manifests_name_built_artifacts_only_sorted_by_board() {
        assert_eq!(native_codes(&[]), None);
        assert_eq!(native_codes(&[NativeBuild::failed("mps2-an385", "no toolchain")]), None);
        let builds = [
            NativeBuild::built(artifact("mps2-an386", &"bb".repeat(32))),
            NativeBuild::failed("mps2-an500", "gcc failed"),
            NativeBuild::built(artifact("mps2-an385", &"aa".repeat(32))),
            // A corrupt record names nothing rather than something wrong.
            NativeBuild::built(artifact("mps2-an505", "zz")),
        ];
        let codes = native_codes(&builds).unwrap();
        assert_eq!(codes.iter().map(|c| c.board.as_str()).collect::<Vec<_>>(), ["mps2-an385", "mps2-an386"]);
        assert_eq!(*codes[0].sha256, [0xaa; 32]);
        // A failed record with an artifact left in it names no artifact.
        let odd = NativeBuild { state: NativeBuildState::Failed, ..builds[0].clone() };
        assert_eq!(odd.artifact(), None);
    }
}
