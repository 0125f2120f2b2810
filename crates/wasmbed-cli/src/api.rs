//! The API client every remote verb uses, and the token it sends.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasmbed_model::{AttachedPeripheral, Device, Labels};

/// A located API, and the token to call it with.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// Where `wasmbed login` keeps the token (owner-only).
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials")
}

/// `--token`, else `WASMBED_TOKEN` (clap fills both), else what `wasmbed login` saved.
pub fn find_token(flag: Option<&str>, data_dir: &Path) -> Option<String> {
    flag.map(str::to_string).or_else(|| {
        std::fs::read_to_string(credentials_path(data_dir)).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    })
}

/// Saves a token for later commands (0600).
pub fn login(data_dir: &Path, token: &str) -> Result<()> {
    if !token.starts_with("wbt_") {
        bail!("that is not a Wasmbed token (they start with wbt_)");
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    write_private(&credentials_path(data_dir), token.as_bytes())
}

impl Api {
    /// With the token to send.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `--api`, else `WASMBED_API` (clap fills both), else the data dir's endpoint.json.
    pub fn locate(flag: Option<&str>, data_dir: &Path) -> Result<Self> {
        let base = match flag {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let path = data_dir.join("endpoint.json");
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "no running platform found ({} is missing): start one with `wasmbed up`, or pass --api",
                        path.display()
                    )
                })?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
                v["api"].as_str().with_context(|| format!("{} has no \"api\" field", path.display()))?.to_string()
            }
        };
        Ok(Self { base, http: reqwest::Client::new(), token: None })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base)
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or(body);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!("{msg} (HTTP 401): pass --token or WASMBED_TOKEN, or run `wasmbed login TOKEN`");
        }
        bail!("{msg} (HTTP {})", status.as_u16())
    }

    /// Sends `req` with the token; the answer, whatever its status.
    async fn raw(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        self.authorized(req).send().await.with_context(|| format!("cannot reach {}", self.base))
    }

    /// Sends `req`; a refusal becomes an error with the API's message.
    async fn respond(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = self.raw(req).await?;
        self.check(resp).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        Ok(self.respond(req).await?.json().await?)
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.http.get(self.url(path))).await
    }

    /// `method` with a JSON body.
    pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(self.http.request(method, self.url(path)).json(body)).await
    }

    /// `GET` whose answer is read as it arrives (the event stream).
    pub(crate) async fn get_stream(&self, path: &str) -> Result<reqwest::Response> {
        self.respond(self.http.get(self.url(path)).header("accept", "text/event-stream")).await
    }

    pub(crate) async fn post_bytes<T: serde::de::DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T> {
        self.send(self.http.post(self.url(path)).header("content-type", "application/wasm").body(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        self.respond(self.http.delete(self.url(path))).await.map(drop)
    }

    /// Creates a device; `None` when one of that name exists.
    pub async fn create_device(&self, name: &str, board: &str, labels: &Labels) -> Result<Option<Device>> {
        self.create_device_with(name, board, labels, &[]).await
    }

    /// [`Api::create_device`], with sensors wired to its board.
    pub async fn create_device_with(
        &self,
        name: &str,
        board: &str,
        labels: &Labels,
        peripherals: &[AttachedPeripheral],
    ) -> Result<Option<Device>> {
        let body = serde_json::json!({ "name": name, "board": board, "labels": labels, "peripherals": peripherals });
        let resp = self.raw(self.http.post(self.url("devices")).json(&body)).await?;
        if resp.status() == reqwest::StatusCode::CONFLICT {
            return Ok(None);
        }
        Ok(Some(self.check(resp).await?.json().await?))
    }

    /// A device's identity bundle (a new one per call).
    pub async fn bundle(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self.respond(self.http.get(self.url(&format!("devices/{name}/bundle")))).await?.bytes().await?.to_vec())
    }
}

/// Writes a file only its owner can read (it holds a private key or a
/// token), even over an existing file that others could read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(wasmbed_qemu::write_private(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_written_over_a_readable_file_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        std::fs::write(&path, b"an older bundle, longer than the new one").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"bundle").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"bundle");
        let e = write_private(&dir.path().join("no/such/dir/b.bin"), b"x").unwrap_err();
        assert!(e.to_string().contains("no/such/dir/b.bin"), "{e}");
    }
}
