/**
 * WebGPU flag values from the spec. Node (Dawn via npm `webgpu`) does not define the
 * `GPUBufferUsage`/`GPUMapMode` globals unless the user installs them, so ig-search never
 * relies on those globals and never installs them on the user's behalf.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;

export const ShaderStage = { COMPUTE: 0x4 } as const;
