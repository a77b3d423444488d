//! The server's settings.

use std::time::Duration;

use scimkit_patch::Profile;
use scimkit_schema::NormalizeOptions;

/// How the server behaves. [`Config::default`] is what `scimkit serve` runs with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The path under which tenants live: `{base_path}/{tenant}/Users`. Default `/scim/v2`.
    pub base_path: String,
    /// The scheme and authority clients reach the server at (e.g. `https://scim.example.com`),
    /// for `Location` and `meta.location`. `None` uses the request's `Host`.
    pub public_url: Option<String>,
    /// The largest request body, in bytes (413 above it; also `/Bulk`'s `maxPayloadSize`).
    pub max_payload_size: usize,
    /// The most operations in one `/Bulk` request.
    pub bulk_max_operations: usize,
    /// The page size when a list request gives no `count`.
    pub default_count: usize,
    /// The most resources one list response returns (`filter.maxResults`).
    pub max_results: usize,
    /// How request bodies are read (`NormalizeOptions::lenient` by default, so the shapes
    /// Entra ID, Okta and OneLogin send are accepted).
    pub normalize: NormalizeOptions,
    /// The PATCH tolerances (`Profile::lenient` by default).
    pub patch_profile: Profile,
    /// Per-token rate limit; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
    /// How long one request may take before it is answered with 503.
    pub request_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_path: "/scim/v2".into(),
            public_url: None,
            max_payload_size: 1024 * 1024,
            bulk_max_operations: 1000,
            default_count: 100,
            max_results: 1000,
            normalize: NormalizeOptions::lenient(),
            patch_profile: Profile::lenient(),
            rate_limit: Some(RateLimit::default()),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A token bucket per bearer token: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// The most requests at once (the bucket's size).
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `per_second` sustained with bursts of `burst`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

impl Default for RateLimit {
    /// 100 requests per second with bursts of 200: four times what Entra ID's gallery
    /// checklist asks a service provider to sustain (25 per second per tenant).
    fn default() -> Self {
        Self::new(100.0, 200)
    }
}
