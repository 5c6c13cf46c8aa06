package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaInput consumes a topic in a consumer group. Each message value is a
// CloudTrail record, a delivery file, a JSON array or JSON Lines (gzip
// accepted). Offsets are committed (autocommit is off) only up to the
// first message not yet acknowledged, that is after its alerts are
// delivered and the state committed; messages after a crash are consumed
// again from there.
type KafkaInput struct {
	Brokers []string
	Topic   string
	Group   string // default "trailhound"
	Log     *slog.Logger
	// Opts are extra client options (TLS, SASL).
	Opts []kgo.Opt

	cl   *kgo.Client
	mu   sync.Mutex
	gen  int                  // bumped when partitions are revoked or lost: older acks are ignored
	part map[int32]*partTrack // per partition: offsets delivered, not yet committable
	todo map[int32]kgo.EpochOffset
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

type partTrack struct {
	offs  []int64 // delivered, ascending
	acked map[int64]bool
	epoch int32
}

// Name is "kafka".
func (k *KafkaInput) Name() string { return "kafka" }

// Open creates the client (Run does it when not done before).
func (k *KafkaInput) Open() error {
	if k.cl != nil {
		return nil
	}
	if len(k.Brokers) == 0 || k.Topic == "" {
		return errors.New("kafka input: brokers and topic are needed")
	}
	if k.Group == "" {
		k.Group = "trailhound"
	}
	if k.Log == nil {
		k.Log = slog.Default()
	}
	k.part, k.todo = map[int32]*partTrack{}, map[int32]kgo.EpochOffset{}
	k.kick, k.stop, k.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ConsumerGroup(k.Group),
		kgo.ConsumeTopics(k.Topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			k.commit(ctx) // what is acknowledged, before another member takes over
			k.forget()
		}),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { k.forget() }),
		kgo.WithLogger(kafkaLog{k.Log}),
	}, k.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka input: %w", err)
	}
	k.cl = cl
	go k.committer()
	return nil
}

// forget drops the offsets of partitions this member no longer owns: their
// acknowledgements must not commit over the new owner's.
func (k *KafkaInput) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	k.part, k.todo = map[int32]*partTrack{}, map[int32]kgo.EpochOffset{}
}

// Run consumes until ctx ends.
func (k *KafkaInput) Run(ctx context.Context, deliver func(*Batch) error) error {
	if err := k.Open(); err != nil {
		return err
	}
	for {
		fs := k.cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			return nil
		}
		if fs.IsClientClosed() {
			return nil
		}
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				k.Log.Warn("kafka fetch", "topic", topic, "partition", p, "error", err)
				ferr = err
			}
		})
		if ferr != nil {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		for _, r := range recs {
			if err := deliver(k.batch(r)); err != nil {
				return nil // stopping: not acknowledged, consumed again at the next start
			}
		}
	}
}

func (k *KafkaInput) batch(r *kgo.Record) *Batch {
	k.mu.Lock()
	gen := k.gen
	pt := k.part[r.Partition]
	if pt == nil {
		pt = &partTrack{acked: map[int64]bool{}}
		k.part[r.Partition] = pt
	}
	pt.offs = append(pt.offs, r.Offset)
	pt.epoch = r.LeaderEpoch
	k.mu.Unlock()
	p, off := r.Partition, r.Offset
	return &Batch{Name: fmt.Sprintf("kafka:%s/%d/%d", r.Topic, p, off), Data: r.Value, Ack: func() { k.ack(gen, p, off) }}
}

// ack marks an offset done and, when every earlier one is, makes the
// offset after the done run committable.
func (k *KafkaInput) ack(gen int, p int32, off int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pt := k.part[p]
	if gen != k.gen || pt == nil {
		return
	}
	pt.acked[off] = true
	n := 0
	for n < len(pt.offs) && pt.acked[pt.offs[n]] {
		delete(pt.acked, pt.offs[n])
		n++
	}
	if n == 0 {
		return
	}
	next := pt.offs[n-1] + 1
	pt.offs = pt.offs[n:]
	k.todo[p] = kgo.EpochOffset{Epoch: pt.epoch, Offset: next}
	signal(k.kick)
}

// committer commits what acks made committable, as they come.
func (k *KafkaInput) committer() {
	defer close(k.done)
	for {
		select {
		case <-k.kick:
			k.commit(context.Background())
		case <-k.stop:
			return
		}
	}
}

// commit commits the committable offsets, synchronously.
func (k *KafkaInput) commit(ctx context.Context) {
	k.mu.Lock()
	if len(k.todo) == 0 {
		k.mu.Unlock()
		return
	}
	todo := k.todo
	k.todo = map[int32]kgo.EpochOffset{}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ps []int32
	for p := range todo {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	k.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{k.Topic: todo}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 {
						err = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
					}
				}
			}
		}
		if err != nil {
			k.Log.Warn("kafka: committing offsets; the messages will be consumed again after a restart", "partitions", ps, "error", err)
		}
	})
}

// Close commits the last acknowledged offsets and closes the client.
func (k *KafkaInput) Close() error {
	if k.cl == nil {
		return nil
	}
	close(k.stop)
	<-k.done
	k.commit(context.Background())
	k.cl.Close()
	return nil
}

// kafkaLog passes the Kafka client's own log lines to the service's logger,
// at their level and prefixed "kafka: ": a group that cannot be joined or
// synced, a heartbeat or a broker connection that keeps failing show in
// serve's log, where they were silent (only fetch errors surfaced, through
// PollRecords).
type kafkaLog struct{ l *slog.Logger }

var kafkaLevels = []struct {
	slog slog.Level
	kgo  kgo.LogLevel
}{{slog.LevelDebug, kgo.LogLevelDebug}, {slog.LevelInfo, kgo.LogLevelInfo}, {slog.LevelWarn, kgo.LogLevelWarn}, {slog.LevelError, kgo.LogLevelError}}

// Level is the lowest of the client's levels the logger takes (none
// without a logger).
func (k kafkaLog) Level() kgo.LogLevel {
	if k.l == nil {
		return kgo.LogLevelNone
	}
	for _, lv := range kafkaLevels {
		if k.l.Enabled(context.Background(), lv.slog) {
			return lv.kgo
		}
	}
	return kgo.LogLevelNone
}

// Log logs one of the client's lines.
func (k kafkaLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	for _, lv := range kafkaLevels {
		if lv.kgo == level {
			k.l.Log(context.Background(), lv.slog, "kafka: "+msg, keyvals...)
			return
		}
	}
}
