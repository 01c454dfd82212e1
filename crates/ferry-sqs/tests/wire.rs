//! The wire as clients without an SDK model see it: query-protocol requests by POST and GET,
//! a queue addressed by its URL path, XML documents and error documents, and the JSON error
//! header, checked byte for byte over a plain HTTP connection.

mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
async fn http(endpoint: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    Reply { status, headers: head.to_ascii_lowercase(), body: body.to_owned() }
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn query_protocol_by_post_and_get_with_the_queue_in_the_path() {
    let server = common::start().await;
    let e = &server.endpoint;
    let created = http(e, "POST", "/", &[FORM], "Action=CreateQueue&QueueName=wire&Version=2012-11-05").await;
    assert_eq!(created.status, 200);
    assert!(created.headers.contains("content-type: text/xml"), "{}", created.headers);
    assert!(
        created.body.contains(&format!("<QueueUrl>{e}/000000000000/wire</QueueUrl>")),
        "{}",
        created.body
    );
    assert!(created.body.contains("<ResponseMetadata><RequestId>"));

    // Older clients post to the queue's URL and leave QueueUrl out.
    let sent = http(
        e,
        "POST",
        "/000000000000/wire",
        &[FORM],
        "Action=SendMessage&MessageBody=a%26b&MessageAttribute.1.Name=timestamp\
         &MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=1493147359900",
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.body
            .contains("<MD5OfMessageAttributes>235c5c510d26fb653d073faed50ae77c</MD5OfMessageAttributes>")
    );

    let got =
        http(e, "GET", "/000000000000/wire?Action=ReceiveMessage&MessageAttributeName.1=All", &[], "").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.body.contains("<Body>a&amp;b</Body>"), "{}", got.body);
    assert!(got.body.contains("<MessageAttribute><Name>timestamp</Name><Value>"), "{}", got.body);
}

#[tokio::test]
async fn query_errors_are_error_response_documents() {
    let server = common::start().await;
    let e = &server.endpoint;
    let missing = http(e, "POST", "/", &[FORM], "Action=GetQueueUrl&QueueName=absent").await;
    assert_eq!(missing.status, 400);
    assert!(
        missing
            .body
            .contains("<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>")
    );
    let unknown = http(e, "POST", "/", &[FORM], "Action=Teleport").await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("<Code>InvalidAction</Code>"));
    let no_action = http(e, "POST", "/", &[FORM], "QueueName=x").await;
    assert!(no_action.body.contains("<Code>InvalidAction</Code>"));
    let malformed =
        http(e, "POST", "/", &[FORM], "Action=CreateQueue&QueueName=x&Attribute.one.Name=y").await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains("<Code>MalformedQueryString</Code>"));
}

#[tokio::test]
async fn json_errors_carry_type_and_query_error_header() {
    let server = common::start().await;
    let e = &server.endpoint;
    let json = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AmazonSQS.GetQueueUrl")];
    let reply = http(e, "POST", "/", &json, r#"{"QueueName":"absent"}"#).await;
    assert_eq!(reply.status, 400);
    assert!(reply.headers.contains("x-amzn-query-error: aws.simplequeueservice.nonexistentqueue;sender"));
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");

    let bad_json = http(e, "POST", "/", &json, "{not json").await;
    assert_eq!(bad_json.status, 400);
    let unknown = http(e, "POST", "/", &[("X-Amz-Target", "AmazonSQS.Teleport")], "{}").await;
    assert!(unknown.headers.contains("x-amzn-query-error: invalidaction;sender"));
}

#[tokio::test]
async fn a_query_message_body_that_is_not_utf8_is_refused_and_not_stored() {
    let server = common::start().await;
    let e = &server.endpoint;
    http(e, "POST", "/", &[FORM], "Action=CreateQueue&QueueName=bytes").await;
    let queue = "/000000000000/bytes";
    let refused = http(e, "POST", queue, &[FORM], "Action=SendMessage&MessageBody=%ff%fe%fd").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("<Code>InvalidMessageContents</Code>"), "{}", refused.body);
    let in_batch = http(
        e,
        "POST",
        queue,
        &[FORM],
        "Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a\
         &SendMessageBatchRequestEntry.1.MessageBody=ok%ff",
    )
    .await;
    assert!(in_batch.body.contains("<Code>InvalidMessageContents</Code>"), "{}", in_batch.body);
    let got = http(e, "POST", queue, &[FORM], "Action=ReceiveMessage").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(!got.body.contains("<Message>"), "{}", got.body);
}

#[tokio::test]
async fn sts_get_caller_identity_answers_in_the_request_protocol() {
    let server = common::start().await;
    let e = &server.endpoint;
    let signed = (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDWIRE/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
    );
    let query = http(e, "POST", "/", &[FORM, signed], "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(query.status, 200, "{}", query.body);
    assert!(
        query
            .body
            .contains("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
    );
    assert!(query.body.contains("<Arn>arn:aws:iam::000000000000:user/AKIDWIRE</Arn>"), "{}", query.body);
    assert!(
        query.body.contains("<UserId>AKIDWIRE</UserId><Account>000000000000</Account>"),
        "{}",
        query.body
    );

    let target = ("X-Amz-Target", "AWSSecurityTokenServiceV20110615.GetCallerIdentity");
    let json =
        http(e, "POST", "/", &[("Content-Type", "application/x-amz-json-1.1"), target, signed], "{}").await;
    assert_eq!(json.status, 200, "{}", json.body);
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(body["Account"], "000000000000");
    assert_eq!(body["UserId"], "AKIDWIRE");
    assert_eq!(body["Arn"], "arn:aws:iam::000000000000:user/AKIDWIRE");

    let unsigned = http(e, "POST", "/", &[FORM], "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(unsigned.status, 403);
    assert!(unsigned.body.contains("<Code>MissingAuthenticationToken</Code>"), "{}", unsigned.body);
}
