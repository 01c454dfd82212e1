//! ApiVersions: which APIs and versions this broker speaks.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use super::{RequestContext, SUPPORTED};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(*min).with_max_version(*max)
        })
        .collect()
}

pub(crate) fn handle(_ctx: &RequestContext, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The whole v0 frame answering an ApiVersions request of a version newer than ours.
pub(crate) fn unsupported_version_response(correlation_id: i32) -> Bytes {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys());
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut body = BytesMut::new();
    // Encoding plain in-memory values at v0 cannot fail; an empty body would make the client reconnect.
    let _ = header.encode(&mut body, 0);
    let _ = response.encode(&mut body, 0);
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.put_i32(body.len() as i32);
    out.extend_from_slice(&body);
    out.freeze()
}
