//! `wasmbed keys`: the app-signing key deploys are signed with; (admins)
//! rotate it and retire the old ones.

use anyhow::Result;
use clap::Subcommand;
use wasmbed_api::{Retired, Rotated, SigningKeyInfo};

use crate::api::Api;
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Show the key deploys are signed with: its id, generation and chain length.
    Show,
    /// Make a new key current, announced under the present one: devices move to
    /// it, new bundles pin it, every application is signed again (admin).
    Rotate,
    /// Delete the private keys of older generations; devices with old bundles
    /// still reach the current key (admin).
    Retire,
}

fn row(k: &SigningKeyInfo) -> Vec<String> {
    vec![k.key_id.clone(), k.generation.to_string(), k.chain_len.to_string()]
}

pub async fn run(api: &Api, cmd: KeysCmd, json: bool) -> Result<()> {
    let none = serde_json::json!({});
    match cmd {
        KeysCmd::Show => {
            let key: SigningKeyInfo = api.get("signing").await?;
            if json {
                return print_json(&key);
            }
            table(&["KEY ID", "GENERATION", "CHAIN"], &[row(&key)]);
            Ok(())
        }
        KeysCmd::Rotate => {
            let r: Rotated = api.send_json(reqwest::Method::POST, "signing/rotate", &none).await?;
            if json {
                return print_json(&r);
            }
            println!(
                "rotated: {} (generation {}) replaces {}; retire the old key with `wasmbed keys retire`",
                r.current.key_id, r.current.generation, r.previous_key_id
            );
            Ok(())
        }
        KeysCmd::Retire => {
            let r: Retired = api.send_json(reqwest::Method::POST, "signing/retire", &none).await?;
            if json {
                return print_json(&r);
            }
            println!(
                "retired {} older key(s); current: {} (generation {})",
                r.retired, r.current.key_id, r.current.generation
            );
            Ok(())
        }
    }
}
