import { describe, expect, it } from 'vitest';
import { formatInboundPorts, parseInboundPorts, resourcesPath } from '../../lib/names.ts';

describe('inbound port map annotation', () => {
  it('round-trips', () => {
    const m = parseInboundPorts('9090=65302, 8080=65301');
    expect(m).toBeInstanceOf(Map);
    expect(formatInboundPorts(m as Map<number, number>)).toBe('8080=65301,9090=65302');
  });

  it.each([['8080'], ['8080=0'], ['a=b'], ['8080=65301,8080=65302'], ['99999=1']])('rejects %j', (text) => {
    expect(parseInboundPorts(text)).toHaveProperty('error');
  });
});

describe('resourcesPath', () => {
  it('is Rainbond form with escaped segments', () => {
    expect(resourcesPath('shop', 'web', 'mesh')).toBe('/v1/resources/shop/web/mesh');
    expect(resourcesPath('a/b', 'c', 'd')).toBe('/v1/resources/a%2Fb/c/d');
  });
});
