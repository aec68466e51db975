// Time of one explanation (trainer/explain's prompt through TextGenerator),
// greedy, exactly --tokens new tokens (EOS ignored), on 1 and 2 threads:
//   bench_explain [--model FILE] [--tokens 20] [--threads 1,2] [--reps 5]
// The prompt is explanation_messages of a fixed input: 5 history titles,
// the item's title and a long text (cut to 200 characters), 3 aspect words.
// For each thread count: one warm-up, then `reps` runs; prints one JSON line
// with the prompt's tokens and the median prefill, decode and total seconds.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "trainer/explain/prompt.h"
#include "trainer/llm/text_generator.h"

namespace {

std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return argv[i + 1];
  return fallback;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

hybrec::explain::PromptInput typical_input() {
  hybrec::explain::PromptInput in;
  in.recent_titles = {"Heat (1995)", "The Usual Suspects (1995)", "Se7en (1995)",
                      "Reservoir Dogs (1992)", "L.A. Confidential (1997)"};
  in.item_title = "The Departed (2006)";
  in.item_text =
      "The Departed (2006) | Crime|Drama|Thriller | undercover cops, Boston, mafia, twist ending, "
      "great cast, remake of Infernal Affairs, Scorsese, violent, dark, suspense, mole, police "
      "corruption, Irish mob, gritty, tense, double cross, Jack Nicholson, Matt Damon, "
      "Leonardo DiCaprio, Mark Wahlberg, Oscar winner, best picture";
  in.aspects = {"crime", "thriller", "twist"};
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = flag(argc, argv, "model", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
  const int reps = std::stoi(flag(argc, argv, "reps", "5"));
  std::vector<int> thread_counts;
  std::stringstream list(flag(argc, argv, "threads", "1,2"));
  for (std::string t; std::getline(list, t, ',');) thread_counts.push_back(std::stoi(t));
  try {
    const hybrec::llm::TextGenerator gen(path);
    const auto messages = hybrec::explain::explanation_messages(typical_input());
    hybrec::llm::GenerateOptions o;
    o.max_tokens = std::stoll(flag(argc, argv, "tokens", "20"));
    o.ignore_eos = true;
    for (int threads : thread_counts) {
      o.threads = threads;
      std::vector<double> prefill, decode, total;
      int64_t prompt = 0, generated = 0;
      for (int r = 0; r <= reps; ++r) {
        const hybrec::llm::GenerateResult g = gen.generate_chat(messages, o);
        if (r == 0) continue;  // warm-up
        prompt = g.prompt_tokens;
        generated = g.generated_tokens;
        prefill.push_back(g.prefill_s);
        decode.push_back(g.decode_s);
        total.push_back(g.prefill_s + g.decode_s);
      }
      std::printf(
          "{\"model\": \"%s\", \"threads\": %d, \"prompt_tokens\": %lld, \"generated_tokens\": "
          "%lld, \"prefill_s\": %.3f, \"decode_s\": %.3f, \"total_s\": %.3f, \"reps\": %d}\n",
          path.c_str(), threads, static_cast<long long>(prompt), static_cast<long long>(generated),
          median(prefill), median(decode), median(total), reps);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_explain: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
