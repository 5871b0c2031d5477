// examples/fashion_mnist/idx_reader.hpp — reads the gzip'd IDX files of
// MNIST-style data sets (Fashion-MNIST, MNIST), validating every header field.
//
// IDX (LeCun, Cortes, Burges: "THE MNIST DATABASE", file formats section):
//   bytes 0-1  zero
//   byte  2    element type: 0x08 unsigned byte (the only type read here)
//   byte  3    number of dimensions (rank)
//   then rank big-endian uint32 sizes, then the elements, row-major.
// A file that does not follow this — missing, not gzip, wrong magic, wrong
// rank or sizes, a header promising more than the file can hold, fewer or
// more data bytes than the header promises, a gzip stream cut before its
// CRC-checked trailer, a directory in place of the file — throws
// mixprec::error naming the file, what is wrong and what to do; nothing is
// read out of bounds. zlib's gzread also reads an uncompressed file as-is.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"

namespace fashion_mnist {

// An IDX file of unsigned bytes: its sizes and its elements, row-major.
struct idx_array {
  std::vector<std::uint32_t> sizes;
  std::vector<std::uint8_t> data;
};

namespace detail {

// Owns a zlib gzFile opened for reading; every zlib status is checked.
class gz_file {
 public:
  explicit gz_file(const std::string& path) : path_(path) {
    // open() succeeds on a directory and only the first read fails (EISDIR),
    // which zlib would report as a read error of the stream: say what it is.
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored))
      throw mixprec::error(mixprec::detail::make_message(
          path, ": is a directory, not a data file; pass --data DIR with the directory that holds the four "
                ".gz files (Debian's dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist)"));
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      const int saved = errno;
      throw mixprec::error(mixprec::detail::make_message(
          path, ": cannot open (", saved != 0 ? std::strerror(saved) : "zlib could not allocate its state",
          "); check the path, install Debian's dataset-fashion-mnist, or pass --data DIR"));
    }
    gzbuffer(file_, 1u << 17);
  }
  gz_file(const gz_file&) = delete;
  gz_file& operator=(const gz_file&) = delete;
  ~gz_file() {
    if (file_ != nullptr) gzclose(file_);  // after an error already thrown; close() checks its status
  }

  // Reads up to `count` bytes; returns how many were read: fewer only at the
  // true end of the data. A damaged stream throws, and so does one that ends
  // before its trailer (RFC 1952 §2.3.1: CRC-32 and ISIZE): zlib's gzread
  // reports that as Z_BUF_ERROR ("unexpected end of file") yet returns the
  // bytes decoded so far, which would leave the data unchecked.
  std::size_t read(void* destination, std::size_t count) {
    auto* out = static_cast<unsigned char*>(destination);
    std::size_t done = 0;
    while (done < count) {
      const std::size_t chunk = count - done < (1u << 30) ? count - done : (1u << 30);
      const int got = gzread(file_, out + done, static_cast<unsigned>(chunk));
      if (got < 0) throw_stream_error();
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    int code = Z_OK;
    gzerror(file_, &code);
    if (code != Z_OK) throw_stream_error();
    return done;
  }

  // Whether zlib passes the file through as it is (not gzip); valid after
  // the first read.
  bool stored_as_is() const { return gzdirect(file_) == 1; }

  // Closes the file and checks zlib's last word on it (gzclose reports a
  // stream cut short as Z_BUF_ERROR too).
  void close() {
    gzFile file = file_;
    file_ = nullptr;
    const int code = gzclose(file);
    if (code == Z_BUF_ERROR) throw truncated_stream();
    if (code != Z_OK)
      throw mixprec::error(mixprec::detail::make_message(path_, ": closing the gzip stream failed (zlib status ", code,
                                                         "); the file may be damaged"));
  }

 private:
  mixprec::error truncated_stream() const {
    return mixprec::error(mixprec::detail::make_message(
        path_, ": truncated gzip stream: the data ends before the gzip trailer (CRC-32 and length), so nothing "
               "checks it (`gzip -t` rejects this file too); the file is damaged: reinstall it (Debian: apt-get "
               "install --reinstall dataset-fashion-mnist) or download it again"));
  }

  [[noreturn]] void throw_stream_error() const {
    int code = 0;
    const char* text = gzerror(file_, &code);
    if (code == Z_BUF_ERROR) throw truncated_stream();
    std::string message = text != nullptr ? text : "unknown error";
    // zlib prefixes its message with the path, which ours already names.
    if (message.compare(0, path_.size() + 2, path_ + ": ") == 0) message.erase(0, path_.size() + 2);
    if (code == Z_ERRNO)
      throw mixprec::error(mixprec::detail::make_message(path_, ": cannot read (", message,
                                                         "); check the file and its permissions"));
    throw mixprec::error(mixprec::detail::make_message(
        path_, ": corrupt gzip data (zlib: ", message,
        "); the file is damaged: reinstall it (Debian: apt-get install --reinstall dataset-fashion-mnist)"));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

inline std::string hex_byte(unsigned value) {
  const char* digits = "0123456789ABCDEF";
  std::string text = "0x";
  text += digits[(value >> 4) & 15u];
  text += digits[value & 15u];
  return text;
}

}  // namespace detail

// Largest element count accepted (guards the allocation against a corrupt
// header promising terabytes); Fashion-MNIST's largest file holds 47 million.
inline constexpr std::uint64_t idx_max_elements = std::uint64_t{1} << 31;

// Deflate expands at most 1032:1 (zlib's technical details: a 258-byte match
// coded in 2 bits, "the limit is 1032:1"), so a file of `bytes` bytes decodes
// to at most 1032 · bytes, whether gzip'd or stored as it is.
inline constexpr std::uint64_t deflate_max_expansion = 1032;

// Reads an IDX file of unsigned bytes with `expected_rank` dimensions.
// `expected_trailing_sizes` (may be empty) fixes every size after the first,
// e.g. {28, 28} for images; the first (the item count) is free.
inline idx_array read_idx(const std::string& path, std::size_t expected_rank,
                          const std::vector<std::uint32_t>& expected_trailing_sizes = {}) {
  using mixprec::detail::make_message;
  detail::gz_file file(path);
  std::error_code size_error;
  const std::uintmax_t file_bytes = std::filesystem::file_size(path, size_error);
  if (size_error)
    throw mixprec::error(make_message(path, ": not a regular file (", size_error.message(),
                                      "); pass the gzip'd IDX file itself"));

  unsigned char magic[4] = {0, 0, 0, 0};
  const std::size_t magic_bytes = file.read(magic, 4);
  if (magic_bytes < 4)
    throw mixprec::error(make_message(path, ": truncated: the IDX header needs 4 magic bytes, the file holds ",
                                      magic_bytes, "; the file is damaged or not an IDX file"));
  if (magic[0] != 0 || magic[1] != 0)
    throw mixprec::error(make_message(path, ": not an IDX file: magic number starts ", detail::hex_byte(magic[0]), " ",
                                      detail::hex_byte(magic[1]), ", IDX files start 0x00 0x00"));
  if (magic[2] != 0x08)
    throw mixprec::error(make_message(path, ": IDX element type ", detail::hex_byte(magic[2]),
                                      " is not unsigned byte (0x08), the only type this reader accepts"));
  if (magic[3] != expected_rank)
    throw mixprec::error(make_message(path, ": the IDX header gives ", static_cast<unsigned>(magic[3]),
                                      " dimensions, expected ", expected_rank,
                                      expected_rank == 1 ? " (a label file)" : " (an image file)",
                                      "; is this the right file?"));

  idx_array result;
  std::uint64_t elements = 1;
  for (std::size_t d = 0; d < expected_rank; ++d) {
    unsigned char bytes[4] = {0, 0, 0, 0};
    const std::size_t got = file.read(bytes, 4);
    if (got < 4)
      throw mixprec::error(make_message(path, ": truncated: the IDX header ends inside the size of dimension ", d,
                                        "; the file is damaged"));
    const std::uint32_t size = (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                               (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
    if (size == 0)
      throw mixprec::error(make_message(path, ": dimension ", d, " has size 0; the file holds no data"));
    if (d >= 1 && d - 1 < expected_trailing_sizes.size() && size != expected_trailing_sizes[d - 1])
      throw mixprec::error(make_message(path, ": dimension ", d, " has size ", size, ", expected ",
                                        expected_trailing_sizes[d - 1],
                                        " (Fashion-MNIST images are 28 x 28); is this the right file?"));
    elements *= size;
    if (elements > idx_max_elements)
      throw mixprec::error(make_message(path, ": the IDX header promises more than ", idx_max_elements,
                                        " elements; the header is corrupt"));
    result.sizes.push_back(size);
  }
  // Bound the claim by what the file can hold before allocating anything.
  const bool as_is = file.stored_as_is();
  const std::uint64_t can_hold = static_cast<std::uint64_t>(file_bytes) * (as_is ? 1 : deflate_max_expansion);
  if (elements > can_hold)
    throw mixprec::error(make_message(path, ": the IDX header promises ", elements, " elements, but a file of ",
                                      file_bytes, " bytes can hold at most ", can_hold,
                                      as_is ? " (it is not compressed)" : " (deflate expands at most 1032:1)",
                                      "; the header is corrupt or the file is truncated"));

  // Read before allocating: the buffer grows with the data actually decoded
  // (16 MiB at a time), never to a size the stream has not delivered.
  const std::size_t promised = static_cast<std::size_t>(elements);
  std::size_t got = 0;
  while (got < promised) {
    const std::size_t chunk = std::min<std::size_t>(promised - got, std::size_t{1} << 24);
    result.data.resize(got + chunk);
    const std::size_t delivered = file.read(result.data.data() + got, chunk);
    got += delivered;
    if (delivered < chunk) break;
  }
  result.data.resize(got);
  if (got < promised)
    throw mixprec::error(make_message(path, ": truncated: the header promises ", elements, " data bytes, the file holds ",
                                      got, "; the file is damaged: reinstall or download it again"));
  unsigned char extra = 0;
  if (file.read(&extra, 1) != 0)
    throw mixprec::error(make_message(path, ": ", "trailing data after the ", elements,
                                      " bytes the header promises; the header's sizes are wrong"));
  file.close();
  return result;
}

// One split of the data set: `count` images of rows x columns bytes, and labels 0-9.
struct image_set {
  std::size_t count = 0;
  std::size_t rows = 0;
  std::size_t columns = 0;
  std::vector<std::uint8_t> pixels;  // count x rows x columns
  std::vector<std::uint8_t> labels;  // count
};

// Reads an image file and its label file and checks that they agree.
inline image_set read_image_set(const std::string& images_path, const std::string& labels_path,
                                std::uint32_t rows = 28, std::uint32_t columns = 28, unsigned classes = 10) {
  using mixprec::detail::make_message;
  idx_array images = read_idx(images_path, 3, {rows, columns});
  idx_array labels = read_idx(labels_path, 1);
  if (images.sizes[0] != labels.sizes[0])
    throw mixprec::error(make_message(images_path, " holds ", images.sizes[0], " images but ", labels_path, " holds ",
                                      labels.sizes[0], " labels; the two files must come from the same split"));
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= classes)
      throw mixprec::error(make_message(labels_path, ": label ", static_cast<unsigned>(labels.data[i]), " of item ", i,
                                        " is outside 0..", classes - 1, "; the file is corrupt"));
  }
  image_set set;
  set.count = images.sizes[0];
  set.rows = rows;
  set.columns = columns;
  set.pixels = std::move(images.data);
  set.labels = std::move(labels.data);
  return set;
}

// The four files of Fashion-MNIST (and MNIST) under `directory`.
struct dataset {
  image_set train;
  image_set test;
};

inline dataset read_dataset(const std::string& directory) {
  const std::string prefix = directory.empty() || directory.back() == '/' ? directory : directory + "/";
  dataset data;
  data.train = read_image_set(prefix + "train-images-idx3-ubyte.gz", prefix + "train-labels-idx1-ubyte.gz");
  data.test = read_image_set(prefix + "t10k-images-idx3-ubyte.gz", prefix + "t10k-labels-idx1-ubyte.gz");
  return data;
}

}  // namespace fashion_mnist
