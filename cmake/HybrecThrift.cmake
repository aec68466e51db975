# Apache Thrift (C++ library via pkg-config, compiler on PATH) and the code
# it generates from an IDL file.
find_program(THRIFT_COMPILER thrift)
if(NOT THRIFT_COMPILER)
  message(FATAL_ERROR "thrift compiler not found: install thrift-compiler (scripts/setup-deps.sh)")
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(THRIFT REQUIRED IMPORTED_TARGET thrift)

# hybrec_thrift_library(<target> <file.thrift> <generated .cpp names...>)
# Generates C++ from the IDL at build time into the binary dir and builds it
# as a static library; its headers come in as SYSTEM so the generated code's
# warnings do not fail our -Werror build.
function(hybrec_thrift_library target idl)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen-cpp)
  set(sources)
  foreach(name IN LISTS ARGN)
    list(APPEND sources ${out}/${name})
  endforeach()
  add_custom_command(
    OUTPUT ${sources}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${THRIFT_COMPILER} --gen cpp:no_skeleton,moveable_types -out ${out} ${idl}
    DEPENDS ${idl}
    COMMENT "thrift: generating C++ from ${idl}")
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC ${out})
  target_link_libraries(${target} PUBLIC PkgConfig::THRIFT)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
