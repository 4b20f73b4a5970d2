//! Outbound HTTP (`wasi:http`), allowed only to the URLs the action's
//! `http` grant lists. A denied request fails with `HttpRequestDenied` and
//! the log names the grant to add.

use crate::sandbox::grants::HttpGrant;
use crate::sandbox::log::ActionLog;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The allow-list of one job.
pub(crate) struct HttpHooks {
    pub(crate) grant: Option<HttpGrant>,
    pub(crate) log: ActionLog,
    pub(crate) action: String,
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let url = request.uri().to_string();
        let shown = crate::text::line(&url).into_owned();
        // Matched in its normalised form, and sent in that form: what was
        // checked is what the server gets.
        let normal = crate::sandbox::grants::normalise(&url);
        let allowed = match (&normal, &self.grant) {
            (Ok(normal), Some(grant)) => grant.allow.iter().any(|rule| rule.allows_normal(normal)),
            _ => false,
        };
        let mut request = request;
        if allowed
            && let Ok(normal) = &normal
            && let Ok(uri) = normal.text.parse::<http::Uri>()
        {
            *request.uri_mut() = uri;
        }
        if !allowed {
            let why = match (&normal, &self.grant) {
                (Err(problem), _) => format!("denied HTTP request: {problem}"),
                (Ok(_), None) => format!(
                    "denied HTTP request to {shown}: action `{}` has no `http` grant (add grants: {{ http: {{ allow: [\"{shown}\"] }} }})",
                    self.action
                ),
                (Ok(_), Some(g)) => format!(
                    "denied HTTP request to {shown}: it matches none of the URLs action `{}` may reach ({}); add it to grants.http.allow",
                    self.action,
                    g.allow
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.log.host_line(&why);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
