// A stand-in for libFuzzer's main() in builds without GSSGATE_FUZZ (GCC Release, GCC
// ASan+UBSan): runs every file of the given corpus directories (or files) through
// LLVMFuzzerTestOneInput once, so each checked-in corpus is a regression test under ctest.
//
//   request_path_fuzz tests/fuzz/corpus/request_path     # exit 0: every input passed
//
// An oracle violation aborts (the test fails with the input's name printed just before).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

bool runFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "running %s (%zu bytes)\n", file.c_str(), bytes.size());
  // A copy of exactly `size` bytes on the heap, so ASan sees reads past the end.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(arg);
    }
    for (const auto& f : files) {
      if (!runFile(f)) return 1;
      ++ran;
    }
  }
  std::fprintf(stderr, "%zu inputs passed\n", ran);
  return ran == 0 ? 1 : 0;  // an empty or missing corpus is a failure, not a pass
}
