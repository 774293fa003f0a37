# Every dependency comes from a Debian 12 package; scripts/install-deps.sh installs them.
find_package(Threads REQUIRED)
# Asio (header-only) decides whether to use std::aligned_alloc by looking for a
# libstdc++ macro, so a file that includes <asio.hpp> before any standard
# header compiles its allocator differently from one that does not: an ODR
# violation that frees operator-new memory with free(). One setting for all.
add_compile_definitions(ASIO_DISABLE_STD_ALIGNED_ALLOC)
find_package(Protobuf REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(SQLite3 REQUIRED)
# libpq (libpq-dev): the PostgreSQL store backend.
find_package(PostgreSQL REQUIRED)
if(NOT PLUMBLINE_FUZZ)
  find_package(gRPC CONFIG REQUIRED)
  find_package(CLI11 QUIET CONFIG)
  find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
  # cpp-httplib (with OpenSSL): HTTP(S) probes and Prometheus scraping in the agent.
  find_package(PkgConfig REQUIRED)
  if(NOT TARGET PkgConfig::HTTPLIB)
    pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
  endif()
  find_package(OpenSSL REQUIRED)
  # snappy (libsnappy-dev): block compression of Prometheus remote-write
  # requests in the load generator (tools/).
  find_package(Snappy CONFIG REQUIRED)
endif()
if(PLUMBLINE_BUILD_TESTS AND NOT PLUMBLINE_FUZZ)
  find_package(GTest REQUIRED)
endif()
