// Scratch memory a kernel reuses across calls on one thread: grown when a call needs more, never
// shrunk, never value-initialized (the caller writes every element before reading it). Large
// buffers freshly allocated on every call would cost a page fault per 4 KB each time; these keep
// their pages for the thread's life, which does not raise the peak (the largest layer needs them
// anyway). `Tag` names the buffer, so two kernels (or two buffers of one kernel) never share one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mc {

template <class T, class Tag>
T* thread_buffer(int64_t n) {
  thread_local std::unique_ptr<T[]> buffer;
  thread_local int64_t size = 0;
  if (n > size) {
    buffer.reset();  // the old one first: the peak holds one buffer, not two
    buffer.reset(new T[static_cast<size_t>(n)]);
    size = n;
  }
  return buffer.get();
}

}  // namespace mc
