# Project targets are warning-clean under -Wall -Wextra -Werror; third-party
# headers come in as SYSTEM includes so their warnings do not count.
#
# HYBREC_CPU_ARCH picks the x86 level for host code; x86-64-v3 (AVX2 + FMA,
# every x86 server since ~2015) doubles the width of the vectorised CPU loops
# over the baseline SSE2 while still running on every build, CI and GPU host.
set(HYBREC_CPU_ARCH x86-64-v3 CACHE STRING "Value for -march= on host code (empty: compiler default)")

function(hybrec_target_defaults target)
  if(HYBREC_CPU_ARCH)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-march=${HYBREC_CPU_ARCH}>
      $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=${HYBREC_CPU_ARCH}>)
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Werror --Werror=all-warnings>)
  if(HYBREC_SANITIZE)
    # -fno-sanitize=enum: Thrift's protocol headers (compiled into our code)
    # cast any byte off the wire to their TType enum before validating it, so
    # every malformed frame would abort a sanitized server; release builds
    # reject those frames as Thrift intends.
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${HYBREC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
    if(HYBREC_SANITIZE MATCHES "undefined")
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize=enum>)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=${HYBREC_SANITIZE})
  endif()
endfunction()
