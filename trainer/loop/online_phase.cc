#include "trainer/loop/online_phase.h"

#include <chrono>
#include <memory>
#include <vector>

#include "hybrec/kernels/error.h"
#include "trainer/loop/new_items_log.h"
#include "trainer/loop/prequential.h"
#include "trainer/loop/stream_feed.h"

namespace hybrec::trainer {

namespace {
using Clock = std::chrono::steady_clock;
}

OnlineResult run_online(const OnlineRun& run, const StreamProgress& resumed, int64_t& step) {
  const StreamOptions& o = run.config.stream;
  Communicator& comm = run.comm;
  const int rank = comm.rank(), W = comm.size();
  const bool rank0 = rank == 0;
  const int64_t L = run.config.model.history_len, T = run.set.data->text_dim;
  // A rewind would have to take back the stream's position and what the
  // events since taught the state: online, a restarted shard stops the run.
  if (run.tables) run.tables->set_restart_policy(RestartPolicy::kThrow);
  StreamState online(run.set, run.encoder);
  std::unique_ptr<NewItemsLog> new_items;
  if (rank0) new_items = std::make_unique<NewItemsLog>(run.run_dir, resumed.new_items);
  std::vector<ExampleSpec> specs;
  std::vector<int64_t> histories;
  std::vector<std::vector<int64_t>> seen;
  if (resumed.position > 0) {
    replay_stream(comm, run.stream_url, resumed.position, o.batch,
                  [&](const std::vector<StreamEvent>& part) {
                    online.take(part, rank, W, L, &run.step.sampler(), &specs, &histories);
                  });
    HYBREC_CHECK(static_cast<int64_t>(online.new_items().size()) == resumed.new_items, "stream ",
                 run.stream_url, ": replaying to position ", resumed.position, " met ",
                 online.new_items().size(), " new items; the checkpoint records ",
                 resumed.new_items, " (is this the stream the run was trained on?)");
  }
  EventSourceOptions source_options;
  source_options.start_after = resumed.position;
  source_options.durable_name = "hybrec-" + run.run_id;
  StreamFeed feed(comm, rank0 ? open_event_source(run.stream_url, source_options) : nullptr, o,
                  resumed.events, run.stop_signal);
  RowFetcher fetch = [&run](const std::string& table, const int64_t* keys, int64_t n, float* out) {
    run.tables->fetch(table, keys, n, out);
  };
  if (rank0) {
    run.log.write({{"event", "stream_start"},
                   {"step", step},
                   {"stream", run.stream_url},
                   {"after_position", resumed.position},
                   {"events", resumed.events},
                   {"learn", o.learn}});
    run.progress.note("online: reading " + run.stream_url + " after position " +
                      std::to_string(resumed.position));
  }
  const auto t0 = Clock::now();
  StreamProgress at = resumed;
  int64_t since_checkpoint = 0, session_events = 0;
  double hits[2] = {0.0, 0.0};  // [hits, scored] over this call's events
  TextNeighborCache neighbors;  // prequential scoring's, kept across micro-batches
  double loss = 0.0;
  auto record = [&](const char* event) {
    if (!rank0) return;
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    nlohmann::json line = {{"event", event},
                           {"step", step},
                           {"position", at.position},
                           {"events", at.events},
                           {"new_items", at.new_items},
                           {"catalogue_items", at.catalogue_items},
                           {"loss", loss},
                           {"events_per_s", seconds > 0 ? session_events / seconds : 0.0}};
    if (o.prequential_k > 0) {
      line["prequential_k"] = o.prequential_k;
      line["prequential_hr"] = hits[1] > 0 ? hits[0] / hits[1] : 0.0;
      line["scored"] = hits[1];
    }
    run.log.write(line);
  };
  int64_t last_checkpoint = step;  // the offline phase's last step is checkpointed
  OnlineResult result;
  while (true) {
    const MicroBatch batch = feed.next();
    if (!batch.events.empty()) {
      const std::vector<int64_t> added =
          online.take(batch.events, rank, W, L, &run.step.sampler(), &specs, &histories,
                      o.prequential_k > 0 ? &seen : nullptr);
      if (rank0) {
        for (int64_t item : added) {
          new_items->append(item, online.new_item_text(item),
                            T > 0 ? online.text_row(item) : nullptr, T);
        }
      }
      // The new items' lines are durable before any rank pushes their rows.
      if (!added.empty() && W > 1) comm.barrier();
      if (o.prequential_k > 0) {
        double mine[2] = {
            static_cast<double>(prequential_hits(run.model, run.step.params().data(),
                                                 run.tables ? fetch : RowFetcher(), online, specs,
                                                 seen, o.prequential_k, &neighbors)),
            static_cast<double>(specs.size())};
        if (W > 1) comm.allreduce_sum(mine, 2);
        hits[0] += mine[0];
        hits[1] += mine[1];
      }
      if (o.learn) {
        loss = run.step.run_examples(step, specs, online.text_emb(), online.text_rows(), run.lr);
        ++step;
      }
      if (W > 1) comm.barrier();  // every rank's pushes applied before the ack
      const auto n = static_cast<int64_t>(batch.events.size());
      at.position = batch.events.back().position;
      at.events += n;
      at.new_items = static_cast<int64_t>(online.new_items().size());
      at.catalogue_items = online.catalogue_items();
      session_events += n;
      since_checkpoint += n;
      feed.ack(at.position);
    }
    const bool at_signal = run.signalled();
    const bool at_stop = batch.stop || at_signal;
    const bool at_checkpoint = o.checkpoint_every > 0 && since_checkpoint >= o.checkpoint_every;
    if (o.learn && (at_checkpoint || at_stop) && last_checkpoint != step) {
      run.checkpoint(step, at);
      last_checkpoint = step;
      since_checkpoint = 0;
      record("stream");
      if (rank0) {
        run.progress.note("online: step " + std::to_string(step) + ", position " +
                          std::to_string(at.position) + ", " + std::to_string(at.events) +
                          " events, " + std::to_string(at.new_items) + " new items (checkpointed)");
      }
    }
    if (at_stop) {
      result.preempted = at_signal;
      break;
    }
  }
  record("stream_end");
  result.end = at;
  result.last_loss = loss;
  result.prequential_hr = hits[1] > 0 ? hits[0] / hits[1] : -1.0;
  return result;
}

}  // namespace hybrec::trainer
