// The IDX reader accepts exactly the files the IDX format describes and
// rejects every other file with a mixprec::error that names the file and the
// fault. The test writes its own files into a fresh temporary directory.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "idx_reader.hpp"
#include "support/catch.hpp"

namespace {

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

// A directory of its own under the system's temporary directory, removed at the end.
struct temporary_directory {
  fs::path path;
  temporary_directory() {
    std::random_device entropy;
    path = fs::temp_directory_path() / ("mixprec_idx_test_" + std::to_string(entropy()) + std::to_string(entropy()));
    fs::create_directories(path);
  }
  ~temporary_directory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void append_u32(bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An IDX file of unsigned bytes: header for `sizes`, then `data` as given
// (which may hold fewer or more bytes than the sizes promise).
bytes idx_bytes(const std::vector<std::uint32_t>& sizes, const bytes& data, std::uint8_t type = 0x08) {
  bytes out = {0, 0, type, static_cast<std::uint8_t>(sizes.size())};
  for (std::uint32_t size : sizes) append_u32(out, size);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_gzip(const std::string& path, const bytes& content) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  if (!content.empty()) REQUIRE(gzwrite(file, content.data(), static_cast<unsigned>(content.size())) > 0);
  REQUIRE(gzclose(file) == Z_OK);
}

void write_raw(const std::string& path, const bytes& content) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
}

bytes read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bytes pattern(std::size_t count) {
  bytes out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return out;
}

}  // namespace

TEST_CASE("a valid gzip'd IDX image file and label file read back byte for byte", "[idx_reader]") {
  temporary_directory dir;
  const bytes pixels = pattern(3 * 28 * 28);
  write_gzip(dir.file("images.gz"), idx_bytes({3, 28, 28}, pixels));
  write_gzip(dir.file("labels.gz"), idx_bytes({3}, {7, 0, 9}));

  const fashion_mnist::idx_array images = fashion_mnist::read_idx(dir.file("images.gz"), 3, {28, 28});
  REQUIRE(images.sizes == std::vector<std::uint32_t>{3, 28, 28});
  REQUIRE(images.data == pixels);

  const fashion_mnist::image_set set = fashion_mnist::read_image_set(dir.file("images.gz"), dir.file("labels.gz"));
  REQUIRE(set.count == 3);
  REQUIRE(set.rows == 28);
  REQUIRE(set.columns == 28);
  REQUIRE(set.pixels == pixels);
  REQUIRE(set.labels == bytes{7, 0, 9});
}

TEST_CASE("an uncompressed IDX file reads as well (zlib passes it through)", "[idx_reader]") {
  temporary_directory dir;
  write_raw(dir.file("labels"), idx_bytes({4}, {1, 2, 3, 4}));
  REQUIRE(fashion_mnist::read_idx(dir.file("labels"), 1).data == bytes{1, 2, 3, 4});
}

TEST_CASE("a missing file is an error naming the file and what to install", "[idx_reader]") {
  temporary_directory dir;
  const std::string path = dir.file("t10k-images-idx3-ubyte.gz");
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(path, 3), path + ": cannot open");
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(path, 3), "dataset-fashion-mnist");
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_dataset(dir.path.string()), "train-images-idx3-ubyte.gz: cannot open");
}

TEST_CASE("an empty file or a header cut short is reported as truncated", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("empty.gz"), {});
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("empty.gz"), 1), dir.file("empty.gz") + ": truncated");

  bytes header = idx_bytes({2, 28, 28}, {});
  header.resize(9);  // magic + one size + one byte of the second
  write_gzip(dir.file("short_header.gz"), header);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("short_header.gz"), 3),
                        dir.file("short_header.gz") + ": truncated: the IDX header ends inside the size of dimension 1");
}

TEST_CASE("fewer data bytes than the header promises is reported as truncated, with both counts", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("images.gz"), idx_bytes({2, 28, 28}, pattern(1000)));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("images.gz"), 3, {28, 28}),
                        dir.file("images.gz") + ": truncated: the header promises 1568 data bytes, the file holds 1000");
}

TEST_CASE("a gzip stream cut short is an error naming the file, never a short read", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("whole.gz"), idx_bytes({20, 28, 28}, pattern(20 * 28 * 28)));
  bytes compressed = read_raw(dir.file("whole.gz"));
  compressed.resize(compressed.size() / 2);
  write_raw(dir.file("cut.gz"), compressed);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("cut.gz"), 3, {28, 28}), dir.file("cut.gz") + ": ");
}

TEST_CASE("a damaged deflate stream is reported as corrupt gzip data", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("whole.gz"), idx_bytes({20, 28, 28}, pattern(20 * 28 * 28)));
  bytes compressed = read_raw(dir.file("whole.gz"));
  // Keep the 10-byte gzip header (so zlib decodes rather than passing the
  // file through) and overwrite the deflate data with an invalid block type.
  for (std::size_t i = 10; i < compressed.size(); ++i) compressed[i] = 0xFF;
  write_raw(dir.file("corrupt.gz"), compressed);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("corrupt.gz"), 3),
                        dir.file("corrupt.gz") + ": corrupt gzip data");
}

TEST_CASE("a file whose magic number is not IDX's is rejected with the bytes seen", "[idx_reader]") {
  temporary_directory dir;
  bytes content = idx_bytes({4}, {1, 2, 3, 4});
  content[0] = 0x1F;
  content[1] = 0x8C;
  write_gzip(dir.file("magic.gz"), content);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("magic.gz"), 1),
                        dir.file("magic.gz") + ": not an IDX file: magic number starts 0x1F 0x8C");

  write_gzip(dir.file("float.gz"), idx_bytes({4}, pattern(16), 0x0D));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("float.gz"), 1),
                        dir.file("float.gz") + ": IDX element type 0x0D is not unsigned byte (0x08)");
}

TEST_CASE("a file with the wrong number of dimensions or the wrong image size is rejected", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("labels.gz"), idx_bytes({4}, {1, 2, 3, 4}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("labels.gz"), 3, {28, 28}),
                        dir.file("labels.gz") + ": the IDX header gives 1 dimensions, expected 3");

  write_gzip(dir.file("small_images.gz"), idx_bytes({2, 27, 28}, pattern(2 * 27 * 28)));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("small_images.gz"), 3, {28, 28}),
                        dir.file("small_images.gz") + ": dimension 1 has size 27, expected 28");

  write_gzip(dir.file("zero.gz"), idx_bytes({0, 28, 28}, {}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("zero.gz"), 3, {28, 28}),
                        dir.file("zero.gz") + ": dimension 0 has size 0");

  write_gzip(dir.file("huge.gz"), idx_bytes({0xFFFFFFFFu, 28, 28}, {}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("huge.gz"), 3, {28, 28}),
                        dir.file("huge.gz") + ": the IDX header promises more than");
}

TEST_CASE("more data than the header promises is rejected as trailing data", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("labels.gz"), idx_bytes({3}, {1, 2, 3, 4}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("labels.gz"), 1), dir.file("labels.gz") + ": trailing data");
}

TEST_CASE("image and label files must agree, and labels must name one of the classes", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("images.gz"), idx_bytes({3, 28, 28}, pattern(3 * 28 * 28)));
  write_gzip(dir.file("two_labels.gz"), idx_bytes({2}, {1, 2}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_image_set(dir.file("images.gz"), dir.file("two_labels.gz")),
                        "holds 3 images but " + dir.file("two_labels.gz") + " holds 2 labels");

  write_gzip(dir.file("bad_labels.gz"), idx_bytes({3}, {1, 12, 2}));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_image_set(dir.file("images.gz"), dir.file("bad_labels.gz")),
                        dir.file("bad_labels.gz") + ": label 12 of item 1 is outside 0..9");
}

// gzip's trailer (RFC 1952 §2.3.1: CRC-32 and ISIZE, 8 bytes) is what detects
// a damaged member; without it nothing checks the data. zlib's gzread reports
// a stream that ends before its trailer as Z_BUF_ERROR ("unexpected end of
// file") and returns the bytes decoded so far, so a reader that takes a short
// read for the end of the file trains on unchecked data. `gzip -t` rejects it.
TEST_CASE("a gzip file whose trailer is cut is rejected as truncated, as gzip -t does", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("labels.gz"), idx_bytes({6}, {1, 2, 3, 4, 5, 6}));
  const bytes whole = read_raw(dir.file("labels.gz"));
  REQUIRE(fashion_mnist::read_idx(dir.file("labels.gz"), 1).data == bytes{1, 2, 3, 4, 5, 6});
  for (std::size_t cut : {1u, 4u, 8u}) {
    bytes shortened(whole.begin(), whole.end() - static_cast<std::ptrdiff_t>(cut));
    write_raw(dir.file("cut.gz"), shortened);
    MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("cut.gz"), 1),
                          dir.file("cut.gz") + ": truncated gzip stream");
  }
}

TEST_CASE("an altered label is caught by the CRC, and with the trailer cut by the missing trailer", "[idx_reader]") {
  temporary_directory dir;
  // Level 0 stores the bytes as they are (deflate "stored" blocks), so one
  // label can be altered in place in the compressed file.
  const bytes labels = {1, 2, 3, 4, 5, 6, 7, 8};
  const bytes content = idx_bytes({8}, labels);
  gzFile file = gzopen(dir.file("stored.gz").c_str(), "wb0");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, content.data(), static_cast<unsigned>(content.size())) > 0);
  REQUIRE(gzclose(file) == Z_OK);
  bytes compressed = read_raw(dir.file("stored.gz"));
  const auto at = std::search(compressed.begin(), compressed.end(), labels.begin(), labels.end());
  REQUIRE(at != compressed.end());
  at[3] = 9;  // label 4 becomes 9: still a valid class
  write_raw(dir.file("altered.gz"), compressed);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("altered.gz"), 1),
                        dir.file("altered.gz") + ": corrupt gzip data");
  compressed.resize(compressed.size() - 8);
  write_raw(dir.file("altered_cut.gz"), compressed);
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("altered_cut.gz"), 1),
                        dir.file("altered_cut.gz") + ": truncated gzip stream");
}

// A corrupt header must not make the reader allocate what the file cannot
// hold: deflate expands at most 1032:1 (zlib's "technical details"), so a
// 116-byte file holds at most about 120 kB, not the 2^31 bytes it may claim.
TEST_CASE("a header promising more than the file can hold is rejected before any allocation", "[idx_reader]") {
  temporary_directory dir;
  write_gzip(dir.file("huge_labels.gz"), idx_bytes({1u << 31}, pattern(100)));
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("huge_labels.gz"), 1),
                        dir.file("huge_labels.gz") + ": the IDX header promises 2147483648 elements, but a file of ");
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("huge_labels.gz"), 1), "can hold at most");

  write_raw(dir.file("plain_labels"), idx_bytes({1000}, pattern(10)));  // uncompressed: at most its own size
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(dir.file("plain_labels"), 1),
                        dir.file("plain_labels") + ": the IDX header promises 1000 elements, but a file of 18 bytes");
}

TEST_CASE("a directory in place of a data file is reported as a directory, not as corrupt data", "[idx_reader]") {
  temporary_directory dir;
  fs::create_directories(dir.path / "train-labels-idx1-ubyte.gz");
  const std::string path = dir.file("train-labels-idx1-ubyte.gz");
  MIXPREC_REQUIRE_ERROR(fashion_mnist::read_idx(path, 1), path + ": is a directory, not a data file");
  REQUIRE_THROWS_WITH(fashion_mnist::read_idx(path, 1), !Catch::Matchers::Contains("corrupt"));
}
