// libFuzzer target: the restricted unpickler and the zip reader on arbitrary bytes must only
// ever return or throw perfmamba::Error (ASan/UBSan catch the rest). Run: tools/fuzz.sh SECONDS
#include <cstddef>
#include <cstdint>

#include "perfmamba/core/error.hpp"
#include "perfmamba/io/pickle.hpp"
#include "perfmamba/io/zip_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    perfmamba::unpickle(data, size, "fuzz");
  } catch (const perfmamba::Error&) {
  }
  try {
    perfmamba::ZipArchive zip(data, size, "fuzz");
    for (const auto& [name, where] : zip.entries()) {
      size_t n = 0;
      const uint8_t* p = zip.find(name, n);
      volatile uint8_t sink = n ? p[n - 1] : 0;  // every entry must lie inside the buffer
      (void)sink;
    }
  } catch (const perfmamba::Error&) {
  }
  return 0;
}
