// A small hand-made dataset for the loop and evaluation tests.
#pragma once

#include "trainer/data/dataset.h"

namespace hybrec::trainer::testing {

// 3 users, 6 items (item 5 cold). Events (user: items in time order):
//   0: 0 1 2 3 5      -> train 0 1, valid 2, test 3, cold 5
//   1: 1 2 4          -> train 1, valid 2, test 4
//   2: 0 5 4          -> train 0, test 4 (2 warm events: no valid), cold 5
inline Dataset tiny_dataset() {
  Dataset d;
  d.name = "tiny";
  d.num_users = 3;
  d.num_items = 6;
  const int64_t events[][2] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 5}, {1, 1},
                               {1, 2}, {1, 4}, {2, 0}, {2, 5}, {2, 4}};
  int64_t t = 0;
  for (const auto& e : events) {
    d.user.push_back(e[0]);
    d.item.push_back(e[1]);
    d.rating.push_back(1.0f);
    d.timestamp.push_back(t++);
    d.split.push_back(e[1] == 5 ? Split::kCold : Split::kTrain);
  }
  d.item_cold = {0, 0, 0, 0, 0, 1};
  d.item_text.assign(6, "");
  finalize(d);
  assign_splits(d);
  return d;
}

}  // namespace hybrec::trainer::testing
