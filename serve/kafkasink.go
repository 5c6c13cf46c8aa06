package serve

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trailhound/trailhound/alert"
)

// KafkaSink produces each alert to a topic, keyed by its id (a redelivered
// alert lands in the same partition; compaction keeps one). Records that
// fail are retried.
type KafkaSink struct {
	Topic  string
	Format Format // default: trailhound's alert JSON
	cl     *kgo.Client
}

// NewKafkaSink opens a producer (idempotent, all in-sync replicas
// acknowledging).
func NewKafkaSink(brokers []string, topic string, format Format, opts ...kgo.Opt) (*KafkaSink, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	return &KafkaSink{Topic: topic, Format: format, cl: cl}, nil
}

// Encode is the alert in the sink's format.
func (k *KafkaSink) Encode(a alert.Alert) (Item, error) {
	b, err := orAlert(k.Format)(a)
	return Item{ID: a.ID, Doc: b}, err
}

// Send produces the items and waits for their acknowledgements.
func (k *KafkaSink) Send(ctx context.Context, items []Item) error {
	recs := make([]*kgo.Record, len(items))
	for i, it := range items {
		recs[i] = &kgo.Record{Topic: k.Topic, Key: []byte(it.ID), Value: it.Doc}
	}
	res := k.cl.ProduceSync(ctx, recs...)
	pe := &PartialError{}
	var first error
	for i, r := range res {
		if r.Err != nil {
			pe.Retry = append(pe.Retry, items[i])
			if first == nil {
				first = r.Err
			}
		}
	}
	if len(pe.Retry) == len(items) {
		return fmt.Errorf("kafka sink: %w", first)
	}
	if len(pe.Retry) > 0 {
		return pe
	}
	return nil
}

// Close closes the producer.
func (k *KafkaSink) Close() { k.cl.Close() }
