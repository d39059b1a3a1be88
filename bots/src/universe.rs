//! The swarm in a universe (`--universe http://HOST:PORT`): the sectors' game sockets, read
//! from any sector's `/api/universe`, so that the bots can be spread over them. Crossing from
//! one sector to the next is the bots' own business ([`crate::bot`] follows hand-overs).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest wait for the directory's answer.
const DIRECTORY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The game sockets of every sector listed at `http` (a sector's HTTP address, e.g.
/// `http://127.0.0.1:8080`), in the directory's order.
pub async fn sectors(http: &str) -> Result<Vec<String>, String> {
    let authority = http
        .strip_prefix("http://")
        .ok_or_else(|| format!("--universe {http:?}: expected http://HOST:PORT (a sector's HTTP address)"))?
        .trim_end_matches('/');
    let body = tokio::time::timeout(DIRECTORY_TIMEOUT, get(authority, "/api/universe"))
        .await
        .map_err(|_| format!("{http}/api/universe did not answer"))??;
    let listing: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{http}/api/universe: not JSON ({e})"))?;
    let urls: Vec<String> = listing["sectors"]
        .as_array()
        .ok_or_else(|| format!("{http}/api/universe lists no sectors: {body}"))?
        .iter()
        .filter_map(|s| s["url"].as_str().map(str::to_string))
        .collect();
    if urls.is_empty() {
        return Err(format!("{http}/api/universe lists no sectors alive"));
    }
    Ok(urls)
}

/// A plain HTTP/1.1 GET's body (the directory is small; no client library needed).
async fn get(authority: &str, path: &str) -> Result<String, String> {
    let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| format!("{authority}: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("a malformed HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{authority}{path}: {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_string())
}
