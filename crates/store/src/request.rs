//! Where a change comes from: carried into every tenant transaction for the audit trail.

use std::net::IpAddr;

/// The request a transaction serves: its id, the client's address and user agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestMeta {
    /// The request id (`x-request-id`), or a label for jobs and commands.
    pub request_id: String,
    /// The client's IP address, when there is a client.
    pub ip: Option<IpAddr>,
    /// The client's user agent, truncated to 512 characters.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// For work no client asked for (admin commands, jobs, tests): only a label.
    pub fn system(label: &str) -> Self {
        Self {
            request_id: label.to_owned(),
            ip: None,
            user_agent: None,
        }
    }

    /// For an HTTP request.
    pub fn http(request_id: String, ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        Self {
            request_id,
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(512).collect()),
        }
    }
}
