//! The capability rule: each `wasmbed:edge` interface is a capability of
//! the same name, linked only when the application was granted it; and
//! `wasi` grants WASI 0.2 (`wasi:*@0.2.*`) in a sandbox with no files, no
//! network, no environment and no stdio. A component that imports anything
//! else is refused before it is instantiated, naming the import.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The WIT package every edge interface belongs to, with its version.
pub const PACKAGE: &str = "wasmbed:edge";
/// The package's version, as components name it in their imports.
pub const PACKAGE_VERSION: &str = "0.1.0";

/// One interface a component may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `log`: lines kept as the component's log.
    Log,
    /// `clocks`: wall and monotonic time.
    Clocks,
    /// `config`: the application's config map.
    Config,
    /// `kv`: the component's small persistent store.
    Kv,
    /// `telemetry`: device samples in, derived samples out.
    Telemetry,
    /// `messages`: messages to apps on devices.
    Messages,
    /// `attached-board`: the board wired to this gateway.
    AttachedBoard,
    /// `wasi`: WASI 0.2's interfaces (clocks, random, cli, io; filesystem
    /// and sockets with nothing to reach), for components built for
    /// `wasm32-wasip2`.
    Wasi,
}

impl Capability {
    /// Every capability, in WIT order.
    pub const ALL: [Capability; 8] = [
        Self::Log,
        Self::Clocks,
        Self::Config,
        Self::Kv,
        Self::Telemetry,
        Self::Messages,
        Self::AttachedBoard,
        Self::Wasi,
    ];

    /// The interface's name, as in the WIT and in an application's grants.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Clocks => "clocks",
            Self::Config => "config",
            Self::Kv => "kv",
            Self::Telemetry => "telemetry",
            Self::Messages => "messages",
            Self::AttachedBoard => "attached-board",
            Self::Wasi => "wasi",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no edge capability.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is no edge capability (one of log, clocks, config, kv, telemetry, messages, attached-board, wasi)")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| UnknownCapability(s.to_owned()))
    }
}

/// The capabilities one application was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Grants(u8);

impl Grants {
    /// Nothing granted.
    pub const NONE: Grants = Grants(0);

    /// These capabilities.
    pub fn of(caps: impl IntoIterator<Item = Capability>) -> Self {
        caps.into_iter().fold(Self::NONE, |g, c| g.with(c))
    }

    /// Parses grant names (`["log", "kv"]`).
    pub fn parse<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, UnknownCapability> {
        names.into_iter().try_fold(Self::NONE, |g, n| Ok(g.with(n.as_ref().parse()?)))
    }

    /// These grants and `cap`.
    pub const fn with(self, cap: Capability) -> Self {
        Grants(self.0 | cap.bit())
    }

    /// Whether `cap` is granted.
    pub const fn has(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The granted capabilities, in WIT order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.has(*c))
    }
}

/// What a component's import is, under the capability rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// `wasmbed:edge/types`: types only, always linked.
    Types,
    /// An interface that is a capability.
    Capability(Capability),
}

/// A component import the rule does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportRefused {
    /// A capability the application was not granted.
    #[error("the component imports {import}, but the application was not granted `{capability}`")]
    NotGranted {
        /// The import as the component names it.
        import: String,
        /// The capability it needs.
        capability: Capability,
    },
    /// Something that is no `wasmbed:edge@0.1.0` interface nor WASI 0.2
    /// (another package, another version).
    #[error(
        "the component imports {0}, which edge components cannot be granted (only wasmbed:edge@0.1.0 interfaces, and WASI 0.2 with `wasi`)"
    )]
    Unknown(String),
}

/// The WASI packages `wasi` grants (0.2, any patch): what wasmtime-wasi
/// links. Not `wasi:http`, `wasi:config` or others it does not provide.
const WASI_PACKAGES: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// Classifies one import name (`wasmbed:edge/kv@0.1.0`, `wasi:random/random@0.2.3`).
pub fn classify(import: &str) -> Option<Import> {
    if let Some(rest) = import.strip_prefix("wasi:") {
        let (path, version) = rest.split_once('@')?;
        let (package, interface) = path.split_once('/')?;
        let minor_two =
            version.strip_prefix("0.2.").is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return (WASI_PACKAGES.contains(&package) && !interface.is_empty() && minor_two)
            .then_some(Import::Capability(Capability::Wasi));
    }
    let rest = import.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = rest.split_once('@')?;
    if version != PACKAGE_VERSION {
        return None;
    }
    if interface == "types" {
        return Some(Import::Types);
    }
    interface.parse().ok().map(Import::Capability)
}

/// Checks every import against the grants.
pub fn check_imports<'a>(imports: impl IntoIterator<Item = &'a str>, grants: Grants) -> Result<(), ImportRefused> {
    for import in imports {
        match classify(import) {
            Some(Import::Types) => {}
            Some(Import::Capability(c)) if grants.has(c) => {}
            Some(Import::Capability(capability)) => {
                return Err(ImportRefused::NotGranted { import: import.to_owned(), capability });
            }
            None => return Err(ImportRefused::Unknown(import.to_owned())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for c in Capability::ALL {
            assert_eq!(c.name().parse::<Capability>(), Ok(c));
        }
        assert_eq!("wasi".parse::<Capability>(), Ok(Capability::Wasi));
        assert!("wasi:cli".parse::<Capability>().is_err());
        assert!("LOG".parse::<Capability>().is_err());
        let g = Grants::parse(["log", "kv"]).unwrap();
        assert!(g.has(Capability::Log) && g.has(Capability::Kv) && !g.has(Capability::Clocks));
        assert_eq!(g.iter().collect::<Vec<_>>(), [Capability::Log, Capability::Kv]);
        assert_eq!(Grants::parse(["log", "fs"]), Err(UnknownCapability("fs".into())));
    }

    #[test]
    fn imports_are_checked_against_grants() {
        let g = Grants::of([Capability::Log]);
        assert_eq!(check_imports(["wasmbed:edge/types@0.1.0", "wasmbed:edge/log@0.1.0"], g), Ok(()));
        assert!(matches!(
            check_imports(["wasmbed:edge/kv@0.1.0"], g),
            Err(ImportRefused::NotGranted { capability: Capability::Kv, .. })
        ));
        for bad in ["wasmbed:edge/log@0.2.0", "wasmbed:edge/fs@0.1.0", "wasmbed:edge/log", ""] {
            assert_eq!(check_imports([bad], g), Err(ImportRefused::Unknown(bad.into())), "{bad}");
        }
        // WASI 0.2 only with `wasi`, and only what wasmtime-wasi provides.
        let wasi = ["wasi:cli/environment@0.2.0", "wasi:random/random@0.2.6", "wasi:sockets/tcp@0.2.3"];
        for import in wasi {
            assert!(
                matches!(
                    check_imports([import], g),
                    Err(ImportRefused::NotGranted { capability: Capability::Wasi, .. })
                ),
                "{import}"
            );
            assert_eq!(check_imports([import], g.with(Capability::Wasi)), Ok(()), "{import}");
        }
        for bad in
            ["wasi:http/types@0.2.0", "wasi:cli/environment@0.3.0", "wasi:cli/environment@0.2.", "wasi:cli@0.2.0"]
        {
            let g = g.with(Capability::Wasi);
            assert_eq!(check_imports([bad], g), Err(ImportRefused::Unknown(bad.into())), "{bad}");
        }
    }
}
