// OpenSLO v1 (https://openslo.com) import into, and export from, the
// business catalog. docs/openslo.md describes the mapping and what does not
// survive a round trip.
//
// Import reads Service, SLI, SLO and AlertPolicy documents (several per YAML
// stream, across files) and builds a catalog that ParseCatalog accepts.
// Anything that cannot be expressed in the catalog and is dropped is returned
// as a warning, never ignored silently; anything that would change the
// meaning of an objective is an error naming file, document and field:
//   slo.yaml: document 2 (SLO checkout-availability): spec.objectives[0].target:
//   must be in (0, 1], got 1.5
//
// Export writes every service as an OpenSLO Service and every SLO as an
// OpenSLO SLO with an inline indicator; catalog fields OpenSLO has no place
// for are kept in `plumbline.dev/...` annotations, so importing the export
// gives back the same objectives.
//
// Pure functions of their inputs: no files, no clocks. Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "collector/catalog/catalog.h"
#include "common/status.h"

namespace plumbline::collector {

// One OpenSLO YAML stream; `name` stands for the file in messages.
struct OpenSloFile {
  std::string name;
  std::string text;
};

struct OpenSloImportOptions {
  // Business unit of imported services that do not name one (an
  // `plumbline.dev/business-unit` annotation); it is added to the catalog.
  std::string business_unit = "imported";
};

struct OpenSloImport {
  Catalog catalog;                    // as ParseCatalog reads catalog_yaml
  std::string catalog_yaml;           // Plumbline catalog YAML
  std::vector<std::string> warnings;  // what was dropped, one sentence each
};

// Errors are InvalidArgument, one line per error, each naming file, document
// (1-based) and field.
absl::StatusOr<OpenSloImport> ImportOpenSlo(const std::vector<OpenSloFile>& files,
                                            const OpenSloImportOptions& options = {});

struct OpenSloExport {
  std::string yaml;                   // multi-document OpenSLO v1 stream
  std::vector<std::string> warnings;  // catalog content OpenSLO does not carry
};

OpenSloExport ExportOpenSlo(const Catalog& catalog);

// The catalog's business units and services as Plumbline catalog YAML;
// ParseCatalog reads it back to equal units and services. Maintenance windows
// and corrections are not written (an import never has any).
std::string CatalogToYaml(const Catalog& catalog);

}  // namespace plumbline::collector
