//! The SQS API through the AWS SDK for Rust (JSON 1.0 protocol) against the real listener.

mod common;

use std::collections::HashMap;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use md5::{Digest, Md5};

/// The SQS error code (`x-amzn-query-error`) of a failed call.
fn code<T, E: ProvideErrorMetadata, R>(result: &Result<T, SdkError<E, R>>) -> String {
    match result {
        Ok(_) => "no error".to_owned(),
        Err(e) => e.as_service_error().and_then(|s| s.code()).unwrap_or("not a service error").to_owned(),
    }
}

fn hex_md5(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn text_attr(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type(data_type).string_value(value).build().unwrap()
}

#[tokio::test]
async fn queue_lifecycle_create_get_list_delete() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("orders", &[]).await;
    assert_eq!(url, format!("{}/000000000000/orders", server.endpoint));
    server.queue("orders-dlq", &[]).await;
    server.queue("other", &[]).await;

    let got = c.get_queue_url().queue_name("orders").send().await.unwrap();
    assert_eq!(got.queue_url(), Some(url.as_str()));

    let listed = c.list_queues().queue_name_prefix("orders").send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 2);

    let page1 = c.list_queues().max_results(2).send().await.unwrap();
    assert_eq!(page1.queue_urls().len(), 2);
    let token = page1.next_token().expect("a next token").to_owned();
    let page2 = c.list_queues().max_results(2).next_token(token).send().await.unwrap();
    assert_eq!(page2.queue_urls().len(), 1);
    assert!(page2.next_token().is_none());

    c.delete_queue().queue_url(&url).send().await.unwrap();
    let gone = c.get_queue_url().queue_name("orders").send().await;
    assert_eq!(code(&gone), "AWS.SimpleQueueService.NonExistentQueue");
    assert!(gone.unwrap_err().into_service_error().is_queue_does_not_exist());
}

#[tokio::test]
async fn create_queue_is_idempotent_only_with_the_same_attributes() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("jobs", &[("VisibilityTimeout", "60")]).await;
    assert_eq!(server.queue("jobs", &[("VisibilityTimeout", "60")]).await, url);
    assert_eq!(server.queue("jobs", &[]).await, url);
    let clash = c
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "61")
        .send()
        .await;
    assert_eq!(code(&clash), "QueueAlreadyExists");
    assert!(clash.unwrap_err().into_service_error().is_queue_name_exists());

    let bad_name = c.create_queue().queue_name("no spaces").send().await;
    assert_eq!(code(&bad_name), "InvalidParameterValue");
    let fifo_name_without_attribute = c.create_queue().queue_name("x.fifo").send().await;
    assert_eq!(code(&fifo_name_without_attribute), "InvalidParameterValue");
}

#[tokio::test]
async fn send_receive_delete_carries_attributes_and_digests() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("q", &[]).await;
    let sent = c
        .send_message()
        .queue_url(&url)
        .message_body("hello ferry")
        .message_attributes("timestamp", text_attr("Number", "1493147359900"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.md5_of_message_body(), Some(hex_md5(b"hello ferry").as_str()));
    // The digest AWS returns for this attribute.
    assert_eq!(sent.md5_of_message_attributes(), Some("235c5c510d26fb653d073faed50ae77c"));

    c.send_message()
        .queue_url(&url)
        .message_body("second")
        .message_attributes("city", text_attr("String", "Any City"))
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary.raw")
                .binary_value(Blob::new(vec![0u8, 1, 2, 255]))
                .build()
                .unwrap(),
        )
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|out| {
            assert_eq!(out.md5_of_message_system_attributes(), Some("5f48eef650c1d0207456969c85af2fdd"));
        })
        .unwrap();

    let got = c
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 2);
    let first = &messages[0];
    assert_eq!(first.body(), Some("hello ferry"));
    assert_eq!(first.md5_of_body(), Some(hex_md5(b"hello ferry").as_str()));
    assert_eq!(first.md5_of_message_attributes(), Some("235c5c510d26fb653d073faed50ae77c"));
    let system = first.attributes().unwrap();
    assert_eq!(
        system.get(&MessageSystemAttributeName::ApproximateReceiveCount).map(String::as_str),
        Some("1")
    );
    assert!(system.contains_key(&MessageSystemAttributeName::SentTimestamp));
    let second = &messages[1];
    let attrs = second.message_attributes().unwrap();
    assert_eq!(attrs["city"].string_value(), Some("Any City"));
    assert_eq!(attrs["blob"].binary_value().map(|b| b.as_ref().to_vec()), Some(vec![0u8, 1, 2, 255]));
    assert_eq!(
        second.attributes().unwrap().get(&MessageSystemAttributeName::AwsTraceHeader).map(String::as_str),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    );

    for m in messages {
        c.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    }
    let empty = c.receive_message().queue_url(&url).send().await.unwrap();
    assert!(empty.messages().is_empty());
}

#[tokio::test]
async fn only_requested_message_attributes_are_returned_and_digested() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("q", &[]).await;
    c.send_message()
        .queue_url(&url)
        .message_body("b")
        .message_attributes("timestamp", text_attr("Number", "1493147359900"))
        .message_attributes("other.thing", text_attr("String", "x"))
        .send()
        .await
        .unwrap();
    let got = c.receive_message().queue_url(&url).message_attribute_names("timestamp").send().await.unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.message_attributes().map(HashMap::len), Some(1));
    assert_eq!(m.md5_of_message_attributes(), Some("235c5c510d26fb653d073faed50ae77c"));
    assert!(m.attributes().is_none());
}

#[tokio::test]
async fn batches_send_receive_and_delete_ten_at_a_time() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("batch", &[]).await;
    let entries: Vec<_> = (0..10)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(format!("body {i}"))
                .build()
                .unwrap()
        })
        .collect();
    let sent = c.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
    assert_eq!(sent.successful().len(), 10);
    assert!(sent.failed().is_empty());
    assert_eq!(sent.successful()[3].md5_of_message_body(), hex_md5(b"body 3"));

    let got = c.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 10);
    let mut deletes: Vec<_> = got
        .messages()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap()
        })
        .collect();
    deletes[9] =
        DeleteMessageBatchRequestEntry::builder().id("bad").receipt_handle("not-a-receipt").build().unwrap();
    let deleted = c.delete_message_batch().queue_url(&url).set_entries(Some(deletes)).send().await.unwrap();
    assert_eq!(deleted.successful().len(), 9);
    assert_eq!(deleted.failed().len(), 1);
    assert_eq!(deleted.failed()[0].id(), "bad");
    assert_eq!(deleted.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert!(deleted.failed()[0].sender_fault());
}

#[tokio::test]
async fn batch_requests_are_refused_with_sqs_batch_errors() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("batch", &[]).await;
    let entry = |id: &str, body: String| {
        SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().unwrap()
    };

    let eleven: Vec<_> = (0..11).map(|i| entry(&format!("e{i}"), "x".into())).collect();
    let r = c.send_message_batch().queue_url(&url).set_entries(Some(eleven)).send().await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");

    let r = c.send_message_batch().queue_url(&url).set_entries(Some(vec![])).send().await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.EmptyBatchRequest");

    let twins = vec![entry("a", "1".into()), entry("a", "2".into())];
    let r = c.send_message_batch().queue_url(&url).set_entries(Some(twins)).send().await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");

    let r = c.send_message_batch().queue_url(&url).entries(entry("bad id!", "1".into())).send().await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.InvalidBatchEntryId");

    let big = "x".repeat(600 * 1024);
    let r = c
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", big.clone()))
        .entries(entry("b", big))
        .send()
        .await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.BatchRequestTooLong");

    let r = c.change_message_visibility_batch().queue_url(&url).set_entries(Some(vec![])).send().await;
    assert_eq!(code(&r), "AWS.SimpleQueueService.EmptyBatchRequest");
}

#[tokio::test]
async fn limits_are_enforced_with_sqs_errors() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("limits", &[("MaximumMessageSize", "1024")]).await;

    let r = c.receive_message().queue_url(&url).visibility_timeout(43_201).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.receive_message().queue_url(&url).wait_time_seconds(21).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.receive_message().queue_url(&url).max_number_of_messages(11).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.send_message().queue_url(&url).message_body("x").delay_seconds(901).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.send_message().queue_url(&url).message_body("x".repeat(1025)).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.send_message().queue_url(&url).message_body("bell \u{7}").send().await;
    assert_eq!(code(&r), "InvalidMessageContents");

    let mut req = c.send_message().queue_url(&url).message_body("x");
    for i in 0..11 {
        req = req.message_attributes(format!("a{i}"), text_attr("String", "v"));
    }
    assert_eq!(code(&req.send().await), "InvalidParameterValue");

    let unlimited = server.queue("big", &[]).await;
    let r = c.send_message().queue_url(&unlimited).message_body("x".repeat(1024 * 1024 + 1)).send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
    c.send_message().queue_url(&unlimited).message_body("x".repeat(1024 * 1024)).send().await.unwrap();

    let missing = c
        .send_message()
        .queue_url(format!("{}/000000000000/nope", server.endpoint))
        .message_body("x")
        .send()
        .await;
    assert_eq!(code(&missing), "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test]
async fn visibility_timeout_hides_then_redelivers_and_can_be_changed() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("vis", &[("VisibilityTimeout", "30")]).await;
    c.send_message().queue_url(&url).message_body("m").send().await.unwrap();

    let first = c.receive_message().queue_url(&url).visibility_timeout(5).send().await.unwrap();
    let receipt = first.messages()[0].receipt_handle().unwrap().to_owned();
    assert!(c.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());

    c.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&receipt)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    server.advance_secs(30.0).await;
    assert!(c.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());

    c.change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("a")
                .receipt_handle(&receipt)
                .visibility_timeout(0)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    server.advance_secs(0.1).await;
    let again = c
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m = &again.messages()[0];
    assert_eq!(m.body(), Some("m"));
    assert_eq!(m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount], "2");

    let r = c
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle("garbage")
        .visibility_timeout(5)
        .send()
        .await;
    assert_eq!(code(&r), "ReceiptHandleIsInvalid");
    let r = c
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(43_201)
        .send()
        .await;
    assert_eq!(code(&r), "InvalidParameterValue");
    let r = c.delete_message().queue_url(&url).receipt_handle("garbage").send().await;
    assert_eq!(code(&r), "ReceiptHandleIsInvalid");
}

/// ApproximateNumberOfMessagesNotVisible of the queue at `url`.
async fn not_visible(c: &aws_sdk_sqs::Client, url: &str) -> String {
    let out = c
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    out.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone()
}

#[tokio::test]
async fn deleting_with_a_superseded_receipt_succeeds_and_keeps_the_message() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("stale", &[("VisibilityTimeout", "5")]).await;
    c.send_message().queue_url(&url).message_body("m").send().await.unwrap();

    let first = c.receive_message().queue_url(&url).send().await.unwrap();
    let old = first.messages()[0].receipt_handle().unwrap().to_owned();
    server.advance_secs(5.1).await;
    let second = c.receive_message().queue_url(&url).send().await.unwrap();
    let latest = second.messages()[0].receipt_handle().unwrap().to_owned();
    assert_ne!(old, latest);

    c.delete_message().queue_url(&url).receipt_handle(&old).send().await.unwrap();
    let batch = c
        .delete_message_batch()
        .queue_url(&url)
        .entries(DeleteMessageBatchRequestEntry::builder().id("old").receipt_handle(&old).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().iter().map(|s| s.id()).collect::<Vec<_>>(), ["old"]);
    assert!(batch.failed().is_empty());
    // Nothing was deleted: the message is still in flight under its latest receipt.
    assert_eq!(not_visible(c, &url).await, "1");
    assert!(c.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());

    let r =
        c.change_message_visibility().queue_url(&url).receipt_handle(&old).visibility_timeout(0).send().await;
    assert_eq!(code(&r), "ReceiptHandleIsInvalid");
    assert_eq!(not_visible(c, &url).await, "1");

    c.delete_message().queue_url(&url).receipt_handle(&latest).send().await.unwrap();
    assert_eq!(not_visible(c, &url).await, "0");
    server.advance_secs(10.0).await;
    assert!(c.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn queue_attributes_round_trip_and_unknown_names_are_refused() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("attrs", &[("DelaySeconds", "5"), ("MessageRetentionPeriod", "3600")]).await;
    c.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "2")
        .send()
        .await
        .unwrap();
    let got = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let a = got.attributes().unwrap();
    assert_eq!(a[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(a[&QueueAttributeName::DelaySeconds], "5");
    assert_eq!(a[&QueueAttributeName::MessageRetentionPeriod], "3600");
    assert_eq!(a[&QueueAttributeName::ReceiveMessageWaitTimeSeconds], "2");
    assert_eq!(a[&QueueAttributeName::QueueArn], "arn:aws:sqs:us-east-1:000000000000:attrs");
    assert_eq!(a[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert!(!a.contains_key(&QueueAttributeName::FifoQueue));

    let r = c.set_queue_attributes().queue_url(&url).attributes("NoSuchAttribute".into(), "1").send().await;
    assert_eq!(code(&r), "InvalidAttributeName");
    let r = c
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await;
    assert_eq!(code(&r), "InvalidAttributeName");
    let r = c
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "43201")
        .send()
        .await;
    assert_eq!(code(&r), "InvalidAttributeValue");
    let r = c.get_queue_attributes().queue_url(&url).attribute_names("Bogus".into()).send().await;
    assert_eq!(code(&r), "InvalidAttributeName");
}

#[tokio::test]
async fn purge_empties_the_queue() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("purge", &[]).await;
    for i in 0..3 {
        c.send_message().queue_url(&url).message_body(format!("{i}")).send().await.unwrap();
    }
    c.purge_queue().queue_url(&url).send().await.unwrap();
    assert!(
        c.receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages()
            .is_empty()
    );
}

#[tokio::test]
async fn tags_and_permissions_are_kept() {
    let server = common::start().await;
    let c = &server.client;
    let url = server.queue("tagged", &[]).await;
    c.tag_queue().queue_url(&url).tags("team", "core").tags("env", "test").send().await.unwrap();
    c.untag_queue().queue_url(&url).tag_keys("env").send().await.unwrap();
    let tags = c.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);
    assert_eq!(tags.tags().unwrap()["team"], "core");

    c.add_permission()
        .queue_url(&url)
        .label("send-from-123")
        .aws_account_ids("123456789012")
        .actions("SendMessage")
        .send()
        .await
        .unwrap();
    let twice = c
        .add_permission()
        .queue_url(&url)
        .label("send-from-123")
        .aws_account_ids("123456789012")
        .actions("SendMessage")
        .send()
        .await;
    assert_eq!(code(&twice), "InvalidParameterValue");
    let policy = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .unwrap();
    assert!(policy.attributes().unwrap()[&QueueAttributeName::Policy].contains("send-from-123"));
    c.remove_permission().queue_url(&url).label("send-from-123").send().await.unwrap();
    let r = c.remove_permission().queue_url(&url).label("send-from-123").send().await;
    assert_eq!(code(&r), "InvalidParameterValue");
}
