// Plumbline's one error type: absl::Status / absl::StatusOr<T> (gRPC already
// brings Abseil). No exception crosses a module boundary; convert to
// grpc::Status only at the RPC edge.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/strings.h"

#define PLUMBLINE_CONCAT_INNER(a, b) a##b
#define PLUMBLINE_CONCAT(a, b) PLUMBLINE_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` yields a non-OK status.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status _plumbline_status = (expr);             \
    if (!_plumbline_status.ok()) return _plumbline_status; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(PLUMBLINE_CONCAT(_plumbline_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
