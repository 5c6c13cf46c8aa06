package sqstest

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Notification bodies of a new object in bucket, as S3, SNS, EventBridge and
// CloudTrail write them to an SQS queue, for tests.

// S3Event is an S3 event notification of one object (the key URL-encoded,
// as S3 sends it).
func S3Event(bucket, key, etag string, size int) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-03T14:00:00.000Z",
		"eventName": "ObjectCreated:Put",
		"s3": map[string]any{"s3SchemaVersion": "1.0", "bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": strings.ReplaceAll(url.QueryEscape(key), "%2F", "/"), "size": size, "eTag": etag, "sequencer": "0A1B2C"}},
	}}})
	return string(b)
}

// SNS wraps a message as SNS delivers it to an SQS subscription.
func SNS(msg string) string {
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:210987654321:trail", "Message": msg})
	return string(b)
}

// EventBridge is an EventBridge "Object Created" event of one object.
func EventBridge(bucket, key, etag string, size int) string {
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "eb-1", "detail-type": "Object Created", "source": "aws.s3",
		"account": "210987654321", "time": "2026-11-03T14:00:00Z", "region": "us-east-1", "resources": []string{"arn:aws:s3:::" + bucket},
		"detail": map[string]any{"version": "0", "bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": key, "size": size, "etag": etag}, "reason": "PutObject"}})
	return string(b)
}

// CloudTrailSNS is the message CloudTrail publishes to its SNS topic for
// objects it delivered, as the queue receives it.
func CloudTrailSNS(bucket string, keys ...string) string {
	b, _ := json.Marshal(map[string]any{"s3Bucket": bucket, "s3ObjectKey": keys})
	return SNS(string(b))
}
