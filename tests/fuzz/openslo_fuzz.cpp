// OpenSLO import on arbitrary text, and export of whatever imports or parses
// as a catalog: no crash, and an export always imports again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "collector/catalog/catalog.h"
#include "collector/catalog/openslo.h"

using plumbline::collector::ExportOpenSlo;
using plumbline::collector::ImportOpenSlo;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto imported = ImportOpenSlo({{"fuzz.yaml", text}});
  if (imported.ok()) {
    auto again = ImportOpenSlo({{"export.yaml", ExportOpenSlo(imported->catalog).yaml}});
    if (!again.ok()) __builtin_trap();
  }
  auto catalog = plumbline::collector::ParseCatalog(text, "fuzz.yaml");
  if (catalog.ok()) {
    auto exported = ImportOpenSlo({{"export.yaml", ExportOpenSlo(*catalog).yaml}});
    if (!exported.ok()) __builtin_trap();
  }
  return 0;
}
