// Time of one explanation (trainer/explain's prompt through TextGenerator),
// greedy, exactly --tokens new tokens (EOS ignored), on 1 and 2 threads:
//   bench_explain [--model FILE] [--tokens 20] [--threads 1,2] [--reps 5]
// The prompt is explanation_messages of a fixed input: 5 history titles,
// the item's title and a long text (cut to 200 characters), 3 aspect words.
// For each thread count and each case, one warm-up, then `reps` runs; prints
// one JSON line per case with the prompt's tokens, how many of them came
// from the prompt prefix cache (TextGenerator, "Prompt prefix"), and the
// median prefill, decode and total seconds. The cases:
//   cold       the whole prompt run (reuse_prompt_prefix off);
//   new_user   after another user's explanation: the system message and the
//              template's head are reused;
//   same_user  after the same user's explanation of another item (a
//              serving request's second result): the history is reused too.
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

// Another user (other history and aspects), the same item.
hybrec::explain::PromptInput other_user() {
  hybrec::explain::PromptInput in = typical_input();
  in.recent_titles = {"Toy Story (1995)", "Aladdin (1992)", "The Lion King (1994)",
                      "Beauty and the Beast (1991)", "Mulan (1998)"};
  in.aspects = {"drama"};
  return in;
}

// The same user, another item.
hybrec::explain::PromptInput other_item() {
  hybrec::explain::PromptInput in = typical_input();
  in.item_title = "Infernal Affairs (2002)";
  in.item_text =
      "Infernal Affairs (2002) | Crime|Drama|Thriller | undercover cops, Hong Kong, triad, mole, "
      "twist ending, tense, police corruption, Andy Lau, Tony Leung, gritty, suspense";
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
    struct Case {
      const char* name;
      bool reuse;
      std::vector<hybrec::text::ChatMessage> before;  // run first, untimed, to fill the cache
    };
    const Case cases[] = {{"cold", false, {}},
                          {"new_user", true, hybrec::explain::explanation_messages(other_user())},
                          {"same_user", true, hybrec::explain::explanation_messages(other_item())}};
    hybrec::llm::GenerateOptions o;
    o.max_tokens = std::stoll(flag(argc, argv, "tokens", "20"));
    o.ignore_eos = true;
    for (int threads : thread_counts) {
      o.threads = threads;
      for (const Case& c : cases) {
        o.reuse_prompt_prefix = c.reuse;
        std::vector<double> prefill, decode, total;
        int64_t prompt = 0, reused = 0, generated = 0;
        for (int r = 0; r <= reps; ++r) {
          if (c.reuse) gen.generate_chat(c.before, o);
          const hybrec::llm::GenerateResult g = gen.generate_chat(messages, o);
          if (r == 0) continue;  // warm-up
          prompt = g.prompt_tokens;
          reused = g.reused_prompt_tokens;
          generated = g.generated_tokens;
          prefill.push_back(g.prefill_s);
          decode.push_back(g.decode_s);
          total.push_back(g.prefill_s + g.decode_s);
        }
        std::printf(
            "{\"model\": \"%s\", \"case\": \"%s\", \"threads\": %d, \"prompt_tokens\": %lld, "
            "\"reused_tokens\": %lld, \"generated_tokens\": %lld, \"prefill_s\": %.3f, "
            "\"decode_s\": %.3f, \"total_s\": %.3f, \"reps\": %d}\n",
            path.c_str(), c.name, threads, static_cast<long long>(prompt),
            static_cast<long long>(reused), static_cast<long long>(generated), median(prefill),
            median(decode), median(total), reps);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_explain: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
