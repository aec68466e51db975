// Turns a runtime flag that changes an inner loop (causal, pooling mode,
// weighted) into a compile-time constant, as flash-attention's BOOL_SWITCH.
#pragma once

#define HYBREC_BOOL_SWITCH(cond, CONST_NAME, ...) \
  [&] {                                           \
    if (cond) {                                   \
      constexpr bool CONST_NAME = true;           \
      return __VA_ARGS__();                       \
    } else {                                      \
      constexpr bool CONST_NAME = false;          \
      return __VA_ARGS__();                       \
    }                                             \
  }()
