//! `wasmbed token`: list, create (with a lifetime), revoke.

use anyhow::Result;
use clap::Subcommand;
use wasmbed_api::auth::{Lifetime, Role, TokenInfo};
use wasmbed_model::clock::unix_ms;

use crate::api::Api;
use crate::output::{json_or_table, print_json};
use crate::units::{parse_duration, utc};

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// List tokens (never their secrets), with when each expires.
    List,
    /// Create a token and print its secret (shown this once).
    Create {
        /// Who it is for, as the audit log names it.
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: Role,
        /// How long it works, e.g. `90m`, `12h`, `30d` (1 minute to 366 days);
        /// left out: until revoked.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: Option<Lifetime>,
    },
    /// Revoke a token by id; its event streams end.
    Revoke {
        /// Token id (as `token list` shows).
        id: String,
    },
}

/// A duration as `--expires-in` takes it, within the platform's bounds.
fn parse_lifetime(s: &str) -> Result<Lifetime, String> {
    let ms = parse_duration(s)?;
    Lifetime::from_secs(ms / 1000).map_err(|e| format!("{s:?}: {e}"))
}

/// `never`, the UTC time, or that time marked expired.
fn expiry(t: &TokenInfo, now_ms: u64) -> String {
    match t.expires_ms {
        None => "never".into(),
        Some(at) if t.expired(now_ms) => format!("expired {}", utc(at)),
        Some(at) => utc(at),
    }
}

pub async fn run(api: &Api, cmd: TokenCmd, json: bool) -> Result<()> {
    match cmd {
        TokenCmd::List => {
            let tokens: Vec<TokenInfo> = api.get("tokens").await?;
            let now = unix_ms();
            json_or_table(&tokens, json, &["ID", "NAME", "ROLE", "CREATED", "EXPIRES"], |t| {
                vec![t.id.clone(), t.name.clone(), t.role.as_str().into(), utc(t.created_ms), expiry(t, now)]
            })
        }
        TokenCmd::Create { name, role, expires_in } => {
            let mut body = serde_json::json!({ "name": name, "role": role });
            if let Some(l) = expires_in {
                body["lifetimeSecs"] = l.secs().into();
            }
            let created: serde_json::Value = api.send_json(reqwest::Method::POST, "tokens", &body).await?;
            if json {
                return print_json(&created);
            }
            let info: TokenInfo = serde_json::from_value(created.clone())?;
            println!(
                "token {} ({}, {}), expires: {}",
                info.id,
                info.name,
                info.role.as_str(),
                expiry(&info, unix_ms())
            );
            // The secret, alone on its line for scripts; shown this once.
            println!("{}", created["token"].as_str().unwrap_or_default());
            Ok(())
        }
        TokenCmd::Revoke { id } => {
            api.delete(&format!("tokens/{id}")).await?;
            println!("token {id} revoked");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_units_and_the_platforms_bounds() {
        assert_eq!(parse_lifetime("30d").unwrap().secs(), 30 * 86_400);
        assert_eq!(parse_lifetime("90m").unwrap().secs(), 5400);
        for bad in ["0", "59s", "367d", "-5", "soon", "99999999999999999999d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        assert!(parse_lifetime("0").unwrap_err().contains("366 days"));
    }
}
