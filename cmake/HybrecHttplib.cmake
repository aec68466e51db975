# cpp-httplib from Debian (libcpp-httplib-dev): <httplib.h> declares the
# library and libcpp-httplib.so holds its code. Debian builds that library
# with OpenSSL, zlib and Brotli support, and those switches change the
# layout of httplib's classes, so every file that includes the header must
# define them too: hybrec::httplib carries them.
find_path(HYBREC_HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
find_library(HYBREC_HTTPLIB_LIBRARY cpp-httplib REQUIRED)
add_library(hybrec_httplib INTERFACE IMPORTED GLOBAL)
add_library(hybrec::httplib ALIAS hybrec_httplib)
target_include_directories(hybrec_httplib INTERFACE ${HYBREC_HTTPLIB_INCLUDE_DIR})
target_link_libraries(hybrec_httplib INTERFACE ${HYBREC_HTTPLIB_LIBRARY})
target_compile_definitions(hybrec_httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT
                           CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
