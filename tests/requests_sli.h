// The ratio SLI the engine and day-cache tests evaluate: valid requests are
// requests_total's increase, bad ones errors_total's.
#pragma once

#include "collector/catalog/catalog.h"

namespace plumbline::collector {

inline Sli RequestsSli() {
  Sli sli;
  sli.kind = Sli::Kind::kRatio;
  sli.valid.metric = "requests_total";
  sli.bad.metric = "errors_total";
  return sli;
}

}  // namespace plumbline::collector
