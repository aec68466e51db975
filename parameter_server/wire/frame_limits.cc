#include "parameter_server/wire/frame_limits.h"

#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TVirtualTransport.h>

namespace hybrec::ps {

namespace at = apache::thrift;
namespace att = apache::thrift::transport;

namespace {

// The request's memory buffer, with its remaining message size kept equal
// to the bytes left in it after every read.
class FrameBoundedInput : public att::TVirtualTransport<FrameBoundedInput> {
 public:
  FrameBoundedInput(std::shared_ptr<att::TMemoryBuffer> memory,
                    std::shared_ptr<at::TConfiguration> config)
      : TVirtualTransport(std::move(config)), memory_(std::move(memory)) {}
  bool isOpen() const override { return memory_->isOpen(); }
  bool peek() override { return memory_->peek(); }
  void open() override { memory_->open(); }
  void close() override { memory_->close(); }
  uint32_t read(uint8_t* buf, uint32_t len) { return left(memory_->read(buf, len)); }
  uint32_t readAll(uint8_t* buf, uint32_t len) { return left(memory_->readAll(buf, len)); }
  const uint8_t* borrow(uint8_t* buf, uint32_t* len) {
    const uint8_t* p = memory_->borrow(buf, len);
    left(0);
    return p;
  }
  void consume(uint32_t len) {
    memory_->consume(len);
    left(0);
  }
  uint32_t readEnd() override { return memory_->readEnd(); }
  void write(const uint8_t* buf, uint32_t len) { memory_->write(buf, len); }

 private:
  uint32_t left(uint32_t got) {
    setRemainingMessageSize(memory_->available_read());
    return got;
  }
  std::shared_ptr<att::TMemoryBuffer> memory_;
};

}  // namespace

std::shared_ptr<att::TTransport> FrameBoundedInputFactory::getTransport(
    std::shared_ptr<att::TTransport> t) {
  auto memory = std::dynamic_pointer_cast<att::TMemoryBuffer>(t);
  if (!memory) return t;  // not the nonblocking server's buffer: as it is
  return std::make_shared<FrameBoundedInput>(std::move(memory), config_);
}

}  // namespace hybrec::ps
